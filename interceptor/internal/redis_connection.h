// interceptor/internal/redis_connection.h
//
// The hiredis layer of the Redis backend: connecting to one Redis server
// (authenticated, with timeouts), sending a command and reading its answer,
// and what hiredis failures and error replies mean as statuses. The
// backend's protocol (lease, compare-and-swap, announcements) is in
// interceptor/redis_backend.cc.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REDIS_CONNECTION_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REDIS_CONNECTION_H_

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace authrefresh {
namespace internal {

struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

struct RedisContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using RedisContext = std::unique_ptr<redisContext, RedisContextDeleter>;

// Only an error reply's code word ("WRONGTYPE", "ERR", ...) goes into a
// status: Redis's text may quote what was sent.
std::string RedisErrorCode(absl::string_view error);

// How to reach one Redis server: RedisBackendOptions' fields of the same
// names (redis_backend.h), checked by MakeRedisBackend.
struct RedisConnectionOptions {
  std::string host;
  int port = 0;
  std::string unix_socket;  // set: host and port are not used
  std::string user;
  std::string password;
  absl::Duration connect_timeout;
  absl::Duration command_timeout;
};

// Every status names the server (where()) and the command (`what`), and
// never the password. Holds no connection itself: immutable, so usable from
// any thread.
class RedisConnector {
 public:
  explicit RedisConnector(RedisConnectionOptions server);

  // "Redis at host:port" or "Redis at unix socket path".
  const std::string& where() const { return where_; }

  // A new connection, authenticated (AUTH within connect_timeout), with
  // command_timeout set on it. UNAVAILABLE if the server cannot be reached,
  // PERMISSION_DENIED if it refuses AUTH, RESOURCE_EXHAUSTED if hiredis
  // cannot allocate.
  absl::StatusOr<RedisContext> Connect() const;

  // Sends one command on `c` and reads its answer, which may be an error
  // reply. An I/O error or a timeout is UNAVAILABLE, and `c` is then
  // unusable. SIGPIPE is blocked while sending.
  absl::StatusOr<RedisReply> Exchange(redisContext* c, const std::vector<std::string>& args,
                                      absl::string_view what) const;

  // An I/O failure (or a timeout, when `saved_errno` is EAGAIN) on `c`:
  // UNAVAILABLE.
  absl::Status IoError(const redisContext& c, int saved_errno, absl::string_view what) const;
  // An error reply: PERMISSION_DENIED for NOAUTH, WRONGPASS and NOPERM (NOAUTH
  // says to set RedisBackendOptions.password), UNAVAILABLE for LOADING,
  // MASTERDOWN, TRYAGAIN and BUSY (a server not ready yet: an outage),
  // INTERNAL naming the error code otherwise. The reply's text after the code is not quoted.
  absl::Status ErrorReply(const redisReply& reply, absl::string_view what) const;
  // A reply of a shape the command never gives: INTERNAL.
  absl::Status Unexpected(absl::string_view what) const;

 private:
  const RedisConnectionOptions server_;
  const std::string where_;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_REDIS_CONNECTION_H_
