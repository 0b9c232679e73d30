#include "tests/testing/redis_server.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace authrefresh {
namespace testing {
namespace {

constexpr absl::Duration kStartDeadline = absl::Seconds(15);

std::string FindRedisServer() {
  for (const char* candidate : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
    if (access(candidate, X_OK) == 0) return candidate;
  }
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':')) {
    std::string candidate = absl::StrCat(dir, "/redis-server");
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A port nothing listens on right now (the kernel's pick for port 0). Another
// process may take it before redis-server binds it: Start() then retries.
absl::StatusOr<int> PickPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: errno ", errno));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  if (port <= 0) return absl::InternalError("cannot find a free port on 127.0.0.1");
  return port;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void Flatten(const redisReply& r, std::vector<std::string>* out) {
  switch (r.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out->emplace_back(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out->push_back(absl::StrCat(r.integer));
      break;
    case REDIS_REPLY_ARRAY:
      for (size_t i = 0; i < r.elements; ++i) Flatten(*r.element[i], out);
      break;
    default:  // nil
      break;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(RedisServerOptions options) {
  std::unique_ptr<RedisServer> server(new RedisServer(std::move(options)));
  server->binary_ = FindRedisServer();
  if (server->binary_.empty()) {
    return absl::FailedPreconditionError(
        "redis-server not found (looked in /usr/bin, /usr/local/bin and $PATH): "
        "run `bash bazel/setup.sh`");
  }
  const char* tmp = getenv("TEST_TMPDIR");
  std::string dir_template = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/redis.XXXXXX");
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", dir_template, ": errno ", errno));
  }
  server->dir_ = dir_template;
  if (server->options_.unix_socket) {
    server->socket_path_ = absl::StrCat(server->dir_, "/redis.sock");
    // Bazel's $TEST_TMPDIR can be longer than sun_path holds.
    if (server->socket_path_.size() >= sizeof(sockaddr_un::sun_path)) {
      std::string short_dir = "/tmp/redis_sock.XXXXXX";
      if (mkdtemp(short_dir.data()) == nullptr) {
        return absl::InternalError(absl::StrCat("mkdtemp /tmp: errno ", errno));
      }
      server->socket_dir_to_remove_ = short_dir;
      server->socket_path_ = absl::StrCat(short_dir, "/redis.sock");
    }
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    absl::StatusOr<int> port = PickPort();
    if (!port.ok()) return port.status();
    server->port_ = *port;
    bool bind_race = false;
    absl::Status started = server->Launch(&bind_race);
    if (started.ok()) return server;
    if (!bind_race) return started;
  }
  return absl::UnavailableError("redis-server lost the race for a free port 5 times");
}

absl::Status RedisServer::Launch(bool* bind_race) {
  *bind_race = false;
  const std::string log = absl::StrCat(dir_, "/redis-", port_, ".log");
  std::vector<std::string> args = {binary_,      "--port",       absl::StrCat(port_),
                                   "--bind",     "127.0.0.1",    "--save",
                                   "",           "--appendonly", options_.persist ? "yes" : "no",
                                   "--daemonize", "no",          "--dir",
                                   dir_,         "--logfile",    log};
  // Every write on disk before it is answered: a restart finds it.
  if (options_.persist) args.insert(args.end(), {"--appendfsync", "always"});
  if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
  if (!socket_path_.empty()) {
    args.insert(args.end(), {"--unixsocket", socket_path_, "--unixsocketperm", "700"});
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (const int rc = posix_spawn(&pid_, binary_.c_str(), nullptr, nullptr, argv.data(), environ);
      rc != 0) {
    pid_ = -1;
    return absl::InternalError(absl::StrCat("posix_spawn ", binary_, ": error ", rc));
  }

  // Ready when it answers PING (PONG, or NOAUTH with a password): polls the
  // connection until a deadline rather than sleeping a fixed time.
  const absl::Time deadline = absl::Now() + kStartDeadline;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      const std::string text = ReadFile(log);
      *bind_race = absl::StrContains(text, "Address already in use");
      return absl::InternalError(absl::StrCat("redis-server exited at start (status ", status,
                                              "); its log ", log, ":\n", text));
    }
    const timeval tv = {0, 200 * 1000};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    bool ready = false;
    if (c != nullptr && c->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
      ready = reply != nullptr;
      if (reply != nullptr) freeReplyObject(reply);
    }
    if (c != nullptr) redisFree(c);
    if (ready) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (absl::Now() >= deadline) {
    Kill(SIGKILL);
    return absl::DeadlineExceededError(absl::StrCat(
        "redis-server did not answer PING on port ", port_, " within ",
        absl::FormatDuration(kStartDeadline), "; its log ", log, ":\n", ReadFile(log)));
  }
  if (!options_.acl_user.empty()) {
    absl::StatusOr<std::vector<std::string>> made =
        Command({"ACL", "SETUSER", options_.acl_user, "on",
                 absl::StrCat(">", options_.acl_password), "~*", "&*", "+@all"});
    if (!made.ok()) return made.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> RedisServer::Command(
    const std::vector<std::string>& args) {
  const timeval tv = {2, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (c == nullptr || c->err != 0) {
    const std::string error = c != nullptr ? c->errstr : "out of memory";
    if (c != nullptr) redisFree(c);
    return absl::UnavailableError(absl::StrCat("cannot connect to the test Redis: ", error));
  }
  redisSetTimeout(c, tv);
  std::vector<std::vector<std::string>> commands;
  if (!options_.password.empty()) commands.push_back({"AUTH", options_.password});
  commands.push_back(args);
  absl::StatusOr<std::vector<std::string>> result;
  for (const std::vector<std::string>& command : commands) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : command) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (reply == nullptr) {
      result = absl::UnavailableError(absl::StrCat("test Redis: ", c->errstr));
      break;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      result = absl::InternalError(absl::StrCat("test Redis answered ", command[0], ": ",
                                                std::string(reply->str, reply->len)));
      freeReplyObject(reply);
      break;
    }
    std::vector<std::string> flat;
    Flatten(*reply, &flat);
    freeReplyObject(reply);
    result = std::move(flat);
  }
  redisFree(c);
  return result;
}

absl::Status RedisServer::Stop() {
  if (pid_ < 0) return absl::FailedPreconditionError("the test Redis is not running");
  Kill(SIGTERM);
  return absl::OkStatus();
}

absl::Status RedisServer::Restart() {
  if (pid_ >= 0) return absl::FailedPreconditionError("the test Redis is still running");
  bool bind_race = false;
  return Launch(&bind_race);
}

absl::Status RedisServer::Pause() {
  if (pid_ < 0) return absl::FailedPreconditionError("the test Redis is not running");
  if (kill(pid_, SIGSTOP) != 0) return absl::InternalError("cannot SIGSTOP the test Redis");
  return absl::OkStatus();
}

absl::Status RedisServer::Resume() {
  if (pid_ < 0) return absl::FailedPreconditionError("the test Redis is not running");
  if (kill(pid_, SIGCONT) != 0) return absl::InternalError("cannot SIGCONT the test Redis");
  return absl::OkStatus();
}

void RedisServer::Kill(int signal) {
  if (pid_ < 0) return;
  kill(pid_, signal);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

RedisServer::~RedisServer() {
  Kill(SIGKILL);
  if (!socket_dir_to_remove_.empty()) {
    unlink(socket_path_.c_str());
    rmdir(socket_dir_to_remove_.c_str());
  }
}

}  // namespace testing
}  // namespace authrefresh
