// tests/testing/redis_server.h
//
// Defines `RedisServer`: a real redis-server (Debian's /usr/bin/redis-server,
// installed by bazel/setup.sh) that a test starts on 127.0.0.1 with a free
// port, nothing persisted (unless asked), and stops again.

#ifndef AUTHREFRESH_TESTS_TESTING_REDIS_SERVER_H_
#define AUTHREFRESH_TESTS_TESTING_REDIS_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace authrefresh {
namespace testing {

struct RedisServerOptions {
  // --requirepass: the default user's password. Empty: no password.
  std::string password;
  // An ACL user made after start (ACL SETUSER <user> on ><password> ~* &* +@all).
  std::string acl_user;
  std::string acl_password;
  // Also listen on a Unix socket (under $TEST_TMPDIR, or /tmp when that path
  // would be too long for sun_path); see unix_socket().
  bool unix_socket = false;
  // Keep the data across Stop() and Restart() (an append-only file, synced
  // on every write); off: a restarted server is empty.
  bool persist = false;
};

class RedisServer {
 public:
  // Starts redis-server and returns once it answers PING. FAILED_PRECONDITION
  // when redis-server is not installed ("run bash bazel/setup.sh").
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(RedisServerOptions options = {});

  // Kills the server (if running) and reaps it.
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  const std::string& unix_socket() const { return socket_path_; }

  // Stops the server (SIGTERM, then waits for it to exit): clients then find
  // nothing listening.
  absl::Status Stop();
  // Starts it again on the same port (and socket), with the same users.
  absl::Status Restart();
  // Stops the process (SIGSTOP) without closing anything: connections and
  // new connects are accepted by the kernel, and nothing answers. Resume()
  // (SIGCONT) lets it answer again, with its data.
  absl::Status Pause();
  absl::Status Resume();

  // Runs one command as the administrator (authenticated when a password is
  // set) on a fresh connection. Strings, statuses and integers come back as
  // one element, arrays flattened, nil as none; an error reply is an error.
  absl::StatusOr<std::vector<std::string>> Command(const std::vector<std::string>& args);

 private:
  explicit RedisServer(RedisServerOptions options) : options_(std::move(options)) {}
  // Spawns redis-server on port_ and waits for PING; false in `*bind_race`
  // when it exited at once (the port was taken meanwhile).
  absl::Status Launch(bool* bind_race);
  void Kill(int signal);

  const RedisServerOptions options_;
  std::string binary_;
  std::string dir_;  // its working directory and log, under $TEST_TMPDIR
  std::string socket_path_;
  std::string socket_dir_to_remove_;  // a directory under /tmp we made, if any
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_REDIS_SERVER_H_
