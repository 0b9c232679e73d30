// Many threads against the single-flight core: fast-path reads, waits,
// cancellations, rejections and logins race with refreshes completed from
// other threads. Runs in the normal suite and under --config=tsan (its fakes
// use only std::mutex, which ThreadSanitizer sees).

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "interceptor/internal/refresh_coordinator.h"

namespace authrefresh {
namespace {

using internal::RefreshCoordinator;

// Real time; timers fire on one thread of the clock's own. The loop's state
// is shared with that thread, so the clock may be destroyed from a callback.
class ThreadClock final : public Clock {
 public:
  ThreadClock() : state_(std::make_shared<State>()) {
    thread_ = std::thread([s = state_] { Run(*s); });
  }
  ~ThreadClock() override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->stop = true;
    }
    state_->cv.notify_all();
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();  // the last reference went in one of our callbacks
    } else {
      thread_.join();
    }
  }
  absl::Time Now() override { return absl::Now(); }
  std::shared_ptr<Timer> Schedule(absl::Time when, std::function<void()> fn) override {
    auto t = std::make_shared<T>();
    t->fn = std::move(fn);
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->timers.push_back({when, t});
    }
    state_->cv.notify_all();
    return t;
  }

 private:
  struct T final : Timer {
    std::mutex mu;
    bool done = false;
    std::function<void()> fn;
    bool Cancel() override {
      std::lock_guard<std::mutex> lock(mu);
      if (done) return false;
      done = true;
      return true;
    }
    void Fire() {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (done) return;
        done = true;
      }
      fn();
      fn = nullptr;
    }
  };
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::deque<std::pair<absl::Time, std::shared_ptr<T>>> timers;
  };
  static void Run(State& s) {
    std::unique_lock<std::mutex> lock(s.mu);
    while (!s.stop) {
      std::vector<std::shared_ptr<T>> due;
      const absl::Time now = absl::Now();
      for (auto it = s.timers.begin(); it != s.timers.end();) {
        if (it->first <= now) {
          due.push_back(it->second);
          it = s.timers.erase(it);
        } else {
          ++it;
        }
      }
      lock.unlock();
      for (auto& t : due) t->Fire();
      due.clear();
      lock.lock();
      s.cv.wait_for(lock, std::chrono::milliseconds(1));
    }
  }

  std::shared_ptr<State> state_;
  std::thread thread_;
};

// Completes each refresh from its own thread, and checks single flight.
struct RefresherState {
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::atomic<int> calls{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::condition_variable cv;
  std::deque<TokenRefresher::Done> pending;
};

class ThreadedRefresher final : public TokenRefresher {
 public:
  explicit ThreadedRefresher(std::shared_ptr<RefresherState> s) : s_(std::move(s)) {}
  void Refresh(const GrantRequest&, Done done) override {
    const int now = ++s_->in_flight;
    int seen = s_->max_in_flight.load();
    while (now > seen && !s_->max_in_flight.compare_exchange_weak(seen, now)) {
    }
    ++s_->calls;
    {
      std::lock_guard<std::mutex> lock(s_->mu);
      s_->pending.push_back(std::move(done));
    }
    s_->cv.notify_all();
  }

 private:
  std::shared_ptr<RefresherState> s_;
};

TEST(CoordinatorStress, RacingCallsRefreshesAndLoginsKeepTheInvariants) {
  auto clock = std::make_shared<ThreadClock>();
  auto state = std::make_shared<RefresherState>();
  TokenManagerOptions options;
  options.clock = clock;
  options.initial_backoff = absl::Milliseconds(1);
  options.max_backoff = absl::Milliseconds(2);
  std::atomic<int> refreshed_callbacks{0};
  options.on_tokens_refreshed = [&](const Token&) { ++refreshed_callbacks; };
  // The coordinator itself, not TokenManager: this target links no gRPC.
  std::shared_ptr<RefreshCoordinator> owner = RefreshCoordinator::Create(
      Token{"at-0", "rt-0", absl::InfiniteFuture(), ""},
      std::make_unique<ThreadedRefresher>(state), options, clock);
  RefreshCoordinator& core = *owner;

  // The "token service": answers refreshes, every 7th with a failure.
  std::thread service([&] {
    int n = 0;
    for (;;) {
      TokenRefresher::Done done;
      {
        std::unique_lock<std::mutex> lock(state->mu);
        state->cv.wait(lock, [&] { return state->stop || !state->pending.empty(); });
        if (state->pending.empty()) return;
        done = std::move(state->pending.front());
        state->pending.pop_front();
      }
      --state->in_flight;
      ++n;
      if (n % 7 == 0) {
        done(absl::UnavailableError("flaky"));
      } else {
        done(Token{"at-" + std::to_string(n), "rt-" + std::to_string(n)});
      }
    }
  });

  constexpr int kThreads = 8;
  constexpr int kIterations = 2000;
  std::atomic<int> callbacks{0}, registered{0}, immediate{0}, cancelled{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        const internal::TokenSnapshot& s = core.Current();
        const uint64_t gen = s.generation;
        const absl::Time now = clock->Now();
        if (core.Sendable(s, now)) core.RefreshIfDue(s, now);
        switch ((i + t) % 5) {
          case 0:
          case 1: {
            RefreshCoordinator::WaitRequest request;
            request.rejected_generation = gen;
            request.ambiguous = i % 7 == 0;
            request.deadline = absl::Now() + absl::Milliseconds(50);
            RefreshCoordinator::Wait w = core.Await(
                request,
                [&](absl::StatusOr<RefreshCoordinator::Snapshot>) { ++callbacks; });
            if (w.ready || w.declined) {
              ++immediate;
            } else {
              ++registered;
              if (i % 3 == 0 && core.CancelWait(w.ticket)) ++cancelled;
            }
            break;
          }
          case 2:
            core.NoteRejection(gen);
            if (i % 4 == 0) core.NoteAccepted(gen);
            if (i % 9 == 0) core.NoteReplayRejected(gen);
            break;
          case 3:
            if (i % 200 == 0) {
              core.SetToken(Token{"at-login", "rt-login", absl::InfiniteFuture(), ""});
            }
            break;
          default:
            (void)core.Stats();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  // Let every remaining waiter finish (deadline 50 ms, or a refresh).
  while (callbacks.load() < registered.load() - cancelled.load()) {
    std::this_thread::yield();
  }
  {
    std::lock_guard<std::mutex> lock(state->mu);
    state->stop = true;
  }
  state->cv.notify_all();
  owner.reset();
  service.join();

  EXPECT_EQ(state->max_in_flight.load(), 1);  // single flight, always
  EXPECT_EQ(callbacks.load(), registered.load() - cancelled.load());
  EXPECT_GT(state->calls.load(), 0);
  EXPECT_GT(refreshed_callbacks.load(), 0);
}

}  // namespace
}  // namespace authrefresh
