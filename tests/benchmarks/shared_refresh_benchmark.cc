// What a coordinated refresh adds: the time from "this token was rejected"
// to "the new token is here" for one replica, with the grant itself
// instant (an in-process token service with rotation), so that only the
// coordination is measured:
//
//   local   the TokenManager's own single flight (no sharing);
//   file    MakeSharedTokenRefresher over MakeFileLockBackend (one host);
//   redis   MakeSharedTokenRefresher over MakeRedisBackend, a real
//           redis-server on 127.0.0.1 started by the benchmark.
//
// A refresh through the shared refresher is: read, lease, read again,
// grant, compare-and-set, release: five backend round trips. Rounds
// interleave the variants; the output is the median and p99 of each, and
// the ratio of the medians to local.
//
//   bazel run -c opt //tests/benchmarks:shared_refresh_benchmark -- [refreshes] [rounds]

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "interceptor/internal/refresh_coordinator.h"
#include "interceptor/internal/token_manager_access.h"
#include "interceptor/redis_backend.h"
#include "interceptor/shared_token.h"
#include "interceptor/token_manager.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/shared_fakes.h"

namespace authrefresh {
namespace {

using testing::RotatingTokenService;

// One replica: a TokenManager whose refresher is `make`'s.
struct Variant {
  std::string name;
  std::function<std::unique_ptr<TokenRefresher>(std::shared_ptr<RotatingTokenService>)> make;
};

// Microseconds for each of `n` rejection-driven refreshes.
std::vector<double> Measure(const Variant& v, int n) {
  auto service = std::make_shared<RotatingTokenService>();
  TokenManagerOptions options;
  options.min_refresh_interval = absl::ZeroDuration();
  auto manager = TokenManager::Create(Token{"at-0", "rt-0"}, v.make(service), options);
  std::vector<double> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    const auto& core = internal::TokenManagerAccess::Coordinator(*manager);
    internal::RefreshCoordinator::WaitRequest request;
    request.rejected_generation = core->Current().generation;
    absl::Notification done;
    bool ok = false;
    const absl::Time start = absl::Now();
    internal::RefreshCoordinator::Wait w =
        core->Await(request, [&](absl::StatusOr<internal::RefreshCoordinator::Snapshot> r) {
          ok = r.ok();
          done.Notify();
        });
    if (w.ready) {
      ok = w.ready->ok();
    } else {
      done.WaitForNotification();
    }
    out.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    if (!ok) {
      std::fprintf(stderr, "%s: refresh %d failed\n", v.name.c_str(), i);
      std::exit(1);
    }
  }
  if (service->grants() != n || service->reuse() != 0) {
    std::fprintf(stderr, "%s: %d grants for %d refreshes, %d reused\n", v.name.c_str(),
                 service->grants(), n, service->reuse());
    std::exit(1);
  }
  return out;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

}  // namespace
}  // namespace authrefresh

int main(int argc, char** argv) {
  using namespace authrefresh;
  const int n = argc > 1 ? std::atoi(argv[1]) : 500;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis = testing::RedisServer::Start();
  if (!redis.ok()) {
    std::fprintf(stderr, "redis-server: %s\n", std::string(redis.status().message()).c_str());
    return 1;
  }
  const char* tmp = getenv("TMPDIR");
  const std::string file = absl::StrCat(tmp ? tmp : "/tmp", "/authrefresh-bench-", getpid());
  int prefix_counter = 0;
  const std::vector<Variant> variants = {
      {"local",
       [](std::shared_ptr<RotatingTokenService> s) {
         return std::make_unique<RotatingTokenService::Refresher>(s, true);
       }},
      {"file",
       [&](std::shared_ptr<RotatingTokenService> s) {
         unlink(file.c_str());
         return *MakeSharedTokenRefresher(
             std::make_unique<RotatingTokenService::Refresher>(s, true), MakeFileLockBackend(file));
       }},
      {"redis",
       [&](std::shared_ptr<RotatingTokenService> s) {
         RedisBackendOptions o;
         o.port = (*redis)->port();
         o.key_prefix = absl::StrCat("bench:", ++prefix_counter, ":");
         return *MakeSharedTokenRefresher(
             std::make_unique<RotatingTokenService::Refresher>(s, true),
             std::shared_ptr<SharedTokenBackend>(*MakeRedisBackend(o)));
       }},
  };
  std::map<std::string, std::vector<double>> all;
  for (int r = 0; r < rounds; ++r) {
    for (const Variant& v : variants) {
      std::vector<double> t = Measure(v, n);
      all[v.name].insert(all[v.name].end(), t.begin(), t.end());
    }
  }
  const double local = Percentile(all["local"], 0.5);
  std::printf("%d refreshes x %d interleaved rounds, one replica, instant grant\n", n, rounds);
  std::printf("%-8s %12s %12s %10s\n", "variant", "median_us", "p99_us", "median/local");
  for (const Variant& v : variants) {
    const double median = Percentile(all[v.name], 0.5);
    std::printf("%-8s %12.1f %12.1f %10.1f\n", v.name.c_str(), median,
                Percentile(all[v.name], 0.99), median / local);
  }
  unlink(file.c_str());
  unlink((file + ".lock").c_str());
  return 0;
}
