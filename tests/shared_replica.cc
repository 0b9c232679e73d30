// One replica of a service for tests/shared_redis_test.cc: a process that
// shares one credential with the others through Redis
// (MakeSharedTokenRefresher over MakeRedisBackend, granting with
// MakeGrpcTokenRefresher), and calls Echo.Say from --threads threads without
// pause. Prints one JSON line when ready, then answers "stats" on stdin with
// one JSON line of counters; exits when stdin closes. Never prints a token.
//
//   shared_replica --redis_port=N --prefix=P --target=127.0.0.1:N
//       --access_token=... --refresh_token=... [--threads=32] [--client_id=...]
//       [--lease_ttl_ms=2000] [--grant_timeout_ms=lease/2] [--seed=1]
//       [--deadline_ms=10000] [--redis_password=...] [--default_retry=1: TokenManagerOptions' own
//       backoff and max_refresh_attempts, not the faster ones set here]

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "interceptor/authrefresh.h"
#include "interceptor/redis_backend.h"
#include "interceptor/shared_token.h"
#include "tests/protos/echo.grpc.pb.h"

namespace {

std::map<std::string, std::string> ParseArgs(int argc, char** argv) {
  std::map<std::string, std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!absl::StartsWith(a, "--")) continue;
    const size_t eq = a.find('=');
    out[a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2)] =
        eq == std::string::npos ? "" : a.substr(eq + 1);
  }
  return out;
}

int IntArg(const std::map<std::string, std::string>& args, const std::string& name, int dflt) {
  auto it = args.find(name);
  int v = dflt;
  if (it != args.end() && !absl::SimpleAtoi(it->second, &v)) v = dflt;
  return v;
}

// Counts the shared refresher's protocol steps from its debug log.
struct Steps {
  std::atomic<int> leases{0};         // "lease taken; granting ..."
  std::atomic<int> written{0};        // "wrote generation ..."
  std::atomic<int> fenced{0};         // "... was replaced while this replica's lease had run out"
  std::atomic<int> adopted{0};        // "adopted ..." / "after taking the lease, adopted ..."
  std::atomic<int> write_failed{0};   // "writing generation ... failed"
  void Count(absl::string_view line) {
    if (absl::StartsWith(line, "lease taken")) ++leases;
    if (absl::StartsWith(line, "wrote generation")) ++written;
    if (absl::StrContains(line, "was replaced while")) ++fenced;
    if (absl::StrContains(line, "adopted generation")) ++adopted;
    if (absl::StartsWith(line, "writing generation")) ++write_failed;
  }
};

// Milliseconds since the epoch, for ordering the replicas' log lines.
std::string Stamp() { return absl::StrCat(absl::ToUnixMillis(absl::Now())); }

}  // namespace

int main(int argc, char** argv) {
  const auto args = ParseArgs(argc, argv);
  const std::string target = args.count("target") ? args.at("target") : "";
  const int threads = IntArg(args, "threads", 32);
  const int deadline_ms = IntArg(args, "deadline_ms", 10000);

  auto steps = std::make_shared<Steps>();
  authrefresh::RedisBackendOptions redis;
  redis.host = "127.0.0.1";
  redis.port = IntArg(args, "redis_port", 6379);
  redis.key_prefix = args.count("prefix") ? args.at("prefix") : "authrefresh:test:";
  if (args.count("redis_password")) redis.password = args.at("redis_password");
  absl::StatusOr<std::unique_ptr<authrefresh::SharedTokenBackend>> backend =
      authrefresh::MakeRedisBackend(redis);
  if (!backend.ok()) {
    std::cerr << "shared_replica: " << backend.status() << "\n";
    return 2;
  }
  authrefresh::SharedTokenRefresherOptions shared;
  shared.lease_ttl = absl::Milliseconds(IntArg(args, "lease_ttl_ms", 2000));
  shared.wait_step = absl::Milliseconds(200);
  shared.max_wait = shared.lease_ttl * 10;
  const bool verbose = getenv("AUTHREFRESH_REPLICA_LOG") != nullptr;
  const std::string name = args.count("client_id") ? args.at("client_id") : "replica";
  shared.debug_log = [steps, verbose, name](absl::string_view line) {
    steps->Count(line);
    if (verbose) std::cerr << Stamp() << " " << name << " shared: " << line << "\n";
  };
  authrefresh::GrpcTokenRefresherOptions grant;
  grant.client_id = args.count("client_id") ? args.at("client_id") : "replica";
  // Shorter than the lease, as it must be for a live holder to write in time.
  grant.timeout = absl::Milliseconds(
      IntArg(args, "grant_timeout_ms", IntArg(args, "lease_ttl_ms", 2000) / 2));
  absl::StatusOr<std::unique_ptr<authrefresh::TokenRefresher>> refresher =
      authrefresh::MakeSharedTokenRefresher(
          authrefresh::MakeGrpcTokenRefresher(
              grpc::CreateChannel(target, grpc::InsecureChannelCredentials()), grant),
          std::shared_ptr<authrefresh::SharedTokenBackend>(*std::move(backend)), shared);
  if (!refresher.ok()) {
    std::cerr << "shared_replica: " << refresher.status() << "\n";
    return 2;
  }
  authrefresh::TokenManagerOptions m;
  m.jitter_seed = static_cast<uint64_t>(IntArg(args, "seed", 1));
  if (IntArg(args, "default_retry", 0) == 0) {
    m.initial_backoff = absl::Milliseconds(100);
    m.max_backoff = absl::Seconds(1);
    m.max_refresh_attempts = 20;
  }
  if (verbose) {
    m.debug_log = [name](absl::string_view line) {
      std::cerr << Stamp() << " " << name << " manager: " << line << "\n";
    };
  }
  auto manager = authrefresh::TokenManager::Create(
      authrefresh::Token{args.count("access_token") ? args.at("access_token") : "",
                         args.count("refresh_token") ? args.at("refresh_token") : "",
                         absl::InfiniteFuture(), ""},
      *std::move(refresher), m);
  authrefresh::InterceptorOptions i;
  i.allow_insecure_transport = true;  // loopback test servers
  auto stub = authrefresh::test::Echo::NewStub(authrefresh::CreateAuthRefreshChannel(
      target, grpc::InsecureChannelCredentials(), manager, i));

  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, failed{0};
  std::atomic<long> failed_naming_backend{0};  // failures that say "shared token backend"
  absl::Mutex mu;
  std::string last_failure;  // ABSL_GUARDED_BY(mu)
  // Successful calls per thread. Once each thread has two more successes
  // than at some moment, every call it had in flight then is over (tests
  // wait for that between revocations).
  std::vector<std::atomic<long>> per_thread(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      while (!stop.load()) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(deadline_ms));
        authrefresh::test::EchoRequest request;
        request.set_text("replica");
        authrefresh::test::EchoReply reply;
        grpc::Status s = stub->Say(&context, request, &reply);
        if (s.ok()) {
          ++ok;
          ++per_thread[t];
        } else {
          ++failed;
          if (absl::StrContains(s.error_message(), "shared token backend")) ++failed_naming_backend;
          absl::MutexLock lock(&mu);
          last_failure = absl::StrCat(s.error_code(), ": ", s.error_message());
          if (verbose) {
            std::cerr << Stamp() << " " << name << " call failed on thread " << t << ": "
                      << last_failure << "\n";
          }
        }
      }
    });
  }

  auto stats = [&] {
    const authrefresh::TokenManagerStats st = manager->Stats();
    std::string thread_ok;
    for (const auto& n : per_thread) absl::StrAppend(&thread_ok, thread_ok.empty() ? "" : ",", n.load());
    std::string failure;
    {
      absl::MutexLock lock(&mu);
      failure = last_failure;
    }
    std::string escaped;
    for (char c : failure.substr(0, 200)) {
      if (c == '"' || c == '\\') escaped += '\\';
      escaped += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return absl::StrCat(
        "{\"ok\":", ok.load(), ",\"thread_ok\":[", thread_ok, "]",
        ",\"failed\":", failed.load(),
        ",\"failed_naming_backend\":", failed_naming_backend.load(), ",\"leases\":", steps->leases.load(),
        ",\"written\":", steps->written.load(), ",\"fenced\":", steps->fenced.load(),
        ",\"adopted\":", steps->adopted.load(), ",\"write_failed\":", steps->write_failed.load(),
        ",\"refreshes_succeeded\":", st.refreshes_succeeded,
        ",\"refreshes_failed\":", st.refreshes_failed,
        ",\"shared_backend_unreachable\":", st.shared_backend_unreachable, ",\"replayed\":", st.calls_replayed,
        ",\"token\":\"", authrefresh::TokenFingerprint(manager->CurrentToken().access_token),
        "\",\"last_failure\":\"", escaped, "\"}");
  };

  std::cout << "{\"ready\":true,\"pid\":" << getpid() << "}" << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "stats") std::cout << stats() << std::endl;
  }
  stop = true;
  for (std::thread& w : workers) w.join();
  return 0;
}
