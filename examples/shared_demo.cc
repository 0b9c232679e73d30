// bazel run //examples:shared_demo
//
// Many replicas, one credential. Starts a redis-server on 127.0.0.1 (a free
// port), a token service that issues 4-second access tokens with rotating
// refresh tokens and reuse detection, a resource service, and 4 replica
// processes (tests/shared_replica, 8 calling threads each) that share one
// login through Redis (MakeSharedTokenRefresher over MakeRedisBackend).
// Prints each grant as it happens, a line per second with every replica's
// calls, and a summary: one grant per expiry for all replicas together.
// Exits non-zero if a call failed or a refresh token was presented twice.
//
//   --replicas=4 --threads=8 --seconds=20 --token_ttl_seconds=4

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/mock_servers.h"
#include "tests/testing/node_process.h"
#include "tests/testing/redis_server.h"

namespace {

int Flag(int argc, char** argv, const char* name, int dflt) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    int v = 0;
    if (arg.rfind(prefix, 0) == 0 && absl::SimpleAtoi(arg.substr(prefix.size()), &v)) return v;
  }
  return dflt;
}

long Field(const google::protobuf::Struct& s, const char* name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? 0 : static_cast<long>(it->second.number_value());
}

}  // namespace

int main(int argc, char** argv) {
  using authrefresh::testing::MockServers;
  using authrefresh::testing::NodeProcess;
  using authrefresh::testing::RedisServer;
  const int replicas = Flag(argc, argv, "replicas", 4);
  const int threads = Flag(argc, argv, "threads", 8);
  const int seconds = Flag(argc, argv, "seconds", 20);
  const int ttl = Flag(argc, argv, "token_ttl_seconds", 4);

  // The replicas are found in this binary's runfiles (bazel run).
  if (getenv("TEST_SRCDIR") == nullptr) {
    setenv("TEST_SRCDIR", absl::StrCat(argv[0], ".runfiles").c_str(), 1);
  }
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  if (!redis.ok()) {
    std::fprintf(stderr, "redis-server: %s (run bash bazel/setup.sh)\n",
                 std::string(redis.status().message()).c_str());
    return 1;
  }
  MockServers::Options o;
  o.access_ttl = absl::Seconds(ttl);
  MockServers servers(o);
  const authrefresh::Token login = servers.authority().Login();
  std::printf("redis-server on 127.0.0.1:%d, token service and resource service on %s\n",
              (*redis)->port(), servers.address().c_str());
  std::printf("%d replicas x %d threads share one login; access tokens live %d s\n\n", replicas,
              threads, ttl);

  std::vector<std::unique_ptr<NodeProcess>> procs;
  for (int i = 0; i < replicas; ++i) {
    std::unique_ptr<NodeProcess> p = NodeProcess::StartExecutable(
        "tests/shared_replica",
        {absl::StrCat("--redis_port=", (*redis)->port()),
         absl::StrCat("--prefix=authrefresh:demo:", getpid(), ":"),
         absl::StrCat("--target=", servers.address()), absl::StrCat("--threads=", threads),
         absl::StrCat("--access_token=", login.access_token),
         absl::StrCat("--refresh_token=", login.refresh_token),
         absl::StrCat("--client_id=replica-", i), absl::StrCat("--seed=", i + 1)});
    if (p == nullptr) return 1;
    procs.push_back(std::move(p));
  }

  const absl::Time start = absl::Now();
  int grants_seen = 0;
  std::vector<long> leases_before(replicas, 0);
  for (int s = 1; s <= seconds; ++s) {
    absl::SleepFor(start + absl::Seconds(s) - absl::Now());  // the demo's pace, 1 line/s
    std::vector<google::protobuf::Struct> stats;
    for (auto& p : procs) stats.push_back(p->Command("stats"));
    const int grants = servers.authority().grants();
    for (; grants_seen < grants; ++grants_seen) {
      std::string by = "?";
      for (int i = 0; i < replicas; ++i) {
        if (Field(stats[i], "leases") > leases_before[i]) {
          by = absl::StrCat("replica-", i);
          leases_before[i] = Field(stats[i], "leases");
          break;
        }
      }
      std::printf("  grant #%d (%s took the lease; the others adopted its token)\n",
                  grants_seen + 1, by.c_str());
    }
    std::string line = absl::StrCat("t=", s, "s grants=", grants);
    for (int i = 0; i < replicas; ++i) {
      absl::StrAppend(&line, " | r", i, " ok=", Field(stats[i], "ok"),
                      " failed=", Field(stats[i], "failed"));
    }
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
  long ok = 0, failed = 0, adopted = 0;
  for (auto& p : procs) {
    const google::protobuf::Struct st = p->Command("stats");
    ok += Field(st, "ok");
    failed += Field(st, "failed");
    adopted += Field(st, "adopted");
  }
  const int grants = servers.authority().grants();
  const int reuse = servers.authority().reuse_detected();
  std::printf(
      "\nsummary: %ld calls ok, %ld failed; %d grants in %d s of %d s tokens, %ld adoptions "
      "(%d other replicas x %d grants = %d: every grant served all replicas); refresh token "
      "reuse detected: %d\n",
      ok, failed, grants, seconds, ttl, adopted, replicas - 1, grants, (replicas - 1) * grants,
      reuse);
  return failed == 0 && reuse == 0 ? 0 : 1;
}
