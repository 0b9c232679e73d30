#include "interceptor/internal/redis_connection.h"

#include <cerrno>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "interceptor/internal/sigpipe_guard.h"

namespace authrefresh {
namespace internal {

std::string RedisErrorCode(absl::string_view error) {
  size_t n = 0;
  while (n < error.size() && n < 32 && (absl::ascii_isupper(error[n]) || error[n] == '_')) ++n;
  return n == 0 ? "ERR" : std::string(error.substr(0, n));
}

RedisConnector::RedisConnector(RedisConnectionOptions server)
    : server_(std::move(server)),
      where_(server_.unix_socket.empty()
                 ? absl::StrCat("Redis at ", server_.host, ":", server_.port)
                 : absl::StrCat("Redis at unix socket ", server_.unix_socket)) {}

absl::Status RedisConnector::Unexpected(absl::string_view what) const {
  return absl::InternalError(absl::StrCat(where_, " answered ", what, " with an unexpected reply"));
}

absl::Status RedisConnector::IoError(const redisContext& c, int saved_errno,
                                     absl::string_view what) const {
  if (c.err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)) {
    return absl::UnavailableError(absl::StrCat(where_, ": no answer to ", what, " within ",
                                               absl::FormatDuration(server_.command_timeout)));
  }
  return absl::UnavailableError(absl::StrCat(where_, ": ", what, " failed: ", c.errstr));
}

absl::Status RedisConnector::ErrorReply(const redisReply& reply, absl::string_view what) const {
  const std::string code = RedisErrorCode(absl::string_view(reply.str, reply.len));
  if (code == "NOAUTH") {
    return absl::PermissionDeniedError(absl::StrCat(
        where_, " requires authentication (NOAUTH): set RedisBackendOptions.password"));
  }
  // The server is there but cannot serve yet: loading its data after a
  // restart, a replica without its primary, a cluster slot moving, a script
  // still running. An outage, not a misconfiguration.
  if (code == "LOADING" || code == "MASTERDOWN" || code == "TRYAGAIN" || code == "BUSY") {
    return absl::UnavailableError(
        absl::StrCat(where_, " cannot answer ", what, " yet (", code, ")"));
  }
  if (code == "WRONGPASS" || code == "NOPERM") {
    return absl::PermissionDeniedError(absl::StrCat(where_, " refused ", what, " (", code, ")"));
  }
  return absl::InternalError(
      absl::StrCat(where_, " answered ", what, " with an error (", code, ")"));
}

absl::StatusOr<RedisReply> RedisConnector::Exchange(redisContext* c,
                                                    const std::vector<std::string>& args,
                                                    absl::string_view what) const {
  std::vector<const char*> argv;
  std::vector<size_t> argv_len;
  argv.reserve(args.size());
  argv_len.reserve(args.size());
  for (const std::string& a : args) {
    argv.push_back(a.data());
    argv_len.push_back(a.size());
  }
  SigpipeBlocked sigpipe_blocked;
  errno = 0;
  RedisReply reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), argv_len.data())));
  const int saved_errno = errno;
  if (reply == nullptr) return IoError(*c, saved_errno, what);
  return reply;
}

absl::StatusOr<RedisContext> RedisConnector::Connect() const {
  const timeval connect_timeout = absl::ToTimeval(server_.connect_timeout);
  RedisContext c(server_.unix_socket.empty()
                     ? redisConnectWithTimeout(server_.host.c_str(), server_.port, connect_timeout)
                     : redisConnectUnixWithTimeout(server_.unix_socket.c_str(), connect_timeout));
  if (c == nullptr) return absl::ResourceExhaustedError("cannot allocate a hiredis context");
  if (c->err != 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", where_, ": ", c->errstr));
  }
  // AUTH belongs to connecting: bounded by connect_timeout.
  if (redisSetTimeout(c.get(), connect_timeout) != REDIS_OK) {
    return absl::UnavailableError(absl::StrCat("cannot set a timeout on ", where_));
  }
  if (!server_.password.empty()) {
    std::vector<std::string> auth = {"AUTH", server_.password};
    if (!server_.user.empty()) auth.insert(auth.begin() + 1, server_.user);
    absl::StatusOr<RedisReply> reply = Exchange(c.get(), auth, "AUTH");
    if (!reply.ok()) return reply.status();
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      return absl::PermissionDeniedError(
          absl::StrCat(where_, " refused AUTH",
                       server_.user.empty() ? "" : absl::StrCat(" as user '", server_.user, "'"),
                       " (", RedisErrorCode(absl::string_view((*reply)->str, (*reply)->len)), ")"));
    }
  }
  if (redisSetTimeout(c.get(), absl::ToTimeval(server_.command_timeout)) != REDIS_OK) {
    return absl::UnavailableError(absl::StrCat("cannot set a timeout on ", where_));
  }
  return c;
}

}  // namespace internal
}  // namespace authrefresh
