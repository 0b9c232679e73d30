// Four replicas (coordinators with shared refreshers) over one in-memory
// backend, each with four threads that keep asking for a token newer than
// the current one, while the replicas' worker threads read, lease, grant,
// write and wait. Runs in the normal suite and under --config=tsan: its
// fakes use only std::mutex, which ThreadSanitizer sees, and the shared
// refresher's own locks are annotated for it.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "interceptor/internal/refresh_coordinator.h"
#include "interceptor/shared_token.h"

namespace authrefresh {
namespace {

using internal::RefreshCoordinator;

// Real time, and no timer ever fires: nothing in this test fails, so the
// coordinators schedule no retry, and the waits have no deadline.
class NoTimerClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  std::shared_ptr<Timer> Schedule(absl::Time, std::function<void()>) override {
    struct Never final : Timer {
      bool Cancel() override { return true; }
    };
    return std::make_shared<Never>();
  }
};

class StdBackend final : public SharedTokenBackend {
 public:
  absl::StatusOr<SharedRecord> Read() override {
    std::lock_guard<std::mutex> lock(mu_);
    return record_;
  }
  absl::StatusOr<bool> TryAcquireLease(const std::string& owner, absl::Duration ttl) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!owner_.empty() && owner_ != owner && absl::Now() < until_) return false;
    owner_ = owner;
    until_ = absl::Now() + ttl;
    return true;
  }
  absl::StatusOr<bool> CompareAndSwap(uint64_t expected, const SharedRecord& r) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (record_.generation != expected) {
        ++refused_;
        return false;
      }
      record_ = r;
    }
    cv_.notify_all();
    return true;
  }
  absl::Status ReleaseLease(const std::string& owner) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (owner_ == owner) owner_.clear();
    }
    cv_.notify_all();
    return absl::OkStatus();
  }
  absl::Status WaitForChange(uint64_t generation, absl::Duration timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] {
      return record_.generation != generation || owner_.empty();
    });
    return absl::OkStatus();
  }
  SharedRecord record() {
    std::lock_guard<std::mutex> lock(mu_);
    return record_;
  }
  int refused() {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  SharedRecord record_;
  std::string owner_;
  absl::Time until_ = absl::InfinitePast();
  int refused_ = 0;
};

// Rotating refresh tokens with reuse detection; answers on the caller's
// thread (the shared refresher's worker).
class StdService {
 public:
  absl::StatusOr<Token> Grant(const std::string& refresh_token) {
    std::lock_guard<std::mutex> lock(mu_);
    if (refresh_token != live_) {
      if (used_.count(refresh_token) > 0) ++reuse_;
      return absl::UnauthenticatedError("invalid_grant");
    }
    used_.insert(live_);
    live_ = absl::StrCat("rt-", ++grants_);
    Token t;
    t.access_token = absl::StrCat("at-", grants_);
    t.refresh_token = live_;
    t.issued_at = absl::Now();
    t.expires_at = t.issued_at + absl::Seconds(3600);
    return t;
  }
  int grants() {
    std::lock_guard<std::mutex> lock(mu_);
    return grants_;
  }
  int reuse() {
    std::lock_guard<std::mutex> lock(mu_);
    return reuse_;
  }

 private:
  std::mutex mu_;
  std::string live_ = "rt-0";
  std::set<std::string> used_;
  int grants_ = 0;
  int reuse_ = 0;
};

class Refresher final : public TokenRefresher {
 public:
  explicit Refresher(std::shared_ptr<StdService> s) : s_(std::move(s)) {}
  void Refresh(const GrantRequest& request, Done done) override {
    done(s_->Grant(request.refresh_token));
  }

 private:
  std::shared_ptr<StdService> s_;
};

TEST(SharedRefresherStress, ReplicasRaceWithoutReuseOrLostWrites) {
  auto service = std::make_shared<StdService>();
  auto backend = std::make_shared<StdBackend>();
  auto clock = std::make_shared<NoTimerClock>();
  constexpr int kReplicas = 4, kThreads = 4, kAsks = 40;
  std::vector<std::shared_ptr<RefreshCoordinator>> replicas;
  for (int i = 0; i < kReplicas; ++i) {
    SharedTokenRefresherOptions shared;
    shared.owner_id = absl::StrCat("replica-", i);
    shared.clock = clock;  // no gRPC timers in a TSan test
    absl::StatusOr<std::unique_ptr<TokenRefresher>> r = MakeSharedTokenRefresher(
        std::make_unique<Refresher>(service), backend, shared);
    ASSERT_TRUE(r.ok()) << r.status();
    TokenManagerOptions options;
    options.min_refresh_interval = absl::ZeroDuration();
    replicas.push_back(RefreshCoordinator::Create(Token{"at-0", "rt-0"}, *std::move(r),
                                                  options, clock));
  }
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, i] {
        RefreshCoordinator& core = *replicas[i];
        for (int a = 0; a < kAsks; ++a) {
          std::mutex mu;
          std::condition_variable cv;
          bool done = false;
          bool good = false;
          RefreshCoordinator::WaitRequest request;
          request.rejected_generation = core.Current().generation;
          RefreshCoordinator::Wait w =
              core.Await(request, [&](absl::StatusOr<RefreshCoordinator::Snapshot> s) {
                std::lock_guard<std::mutex> lock(mu);
                good = s.ok();
                done = true;
                cv.notify_all();
              });
          if (w.ready) {
            good = w.ready->ok();
          } else {
            std::unique_lock<std::mutex> lock(mu);
            cv.wait(lock, [&] { return done; });
          }
          (good ? ok : failed)++;
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ok.load(), kReplicas * kThreads * kAsks);
  EXPECT_EQ(service->reuse(), 0);
  EXPECT_GT(service->grants(), 0);
  // Every grant was written, in order, and none was refused: one writer at
  // a time, under the lease.
  EXPECT_EQ(backend->record().generation, static_cast<uint64_t>(service->grants()));
  EXPECT_EQ(backend->refused(), 0);
  for (auto& r : replicas) r->Shutdown();
}

}  // namespace
}  // namespace authrefresh
