// A TokenRefresher the test completes by hand: each Refresh() is queued and
// finishes only when the test calls Complete(). Shared state outlives the
// refresher, so tests can inspect it after the TokenManager is gone.

#ifndef AUTHREFRESH_TESTS_TESTING_MANUAL_REFRESHER_H_
#define AUTHREFRESH_TESTS_TESTING_MANUAL_REFRESHER_H_

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {
namespace testing {

class ManualRefresher final : public TokenRefresher {
 public:
  struct State {
    absl::Mutex mu;
    std::deque<std::pair<std::string, Done>> pending ABSL_GUARDED_BY(mu);
    std::vector<std::string> presented ABSL_GUARDED_BY(mu);  // refresh tokens
    int destroyed ABSL_GUARDED_BY(mu) = 0;
    // What NeedsRefreshToken() answers: false for a client-credentials-like
    // grant. Set before the TokenManager is created.
    bool needs_refresh_token = true;

    int calls() {
      absl::MutexLock lock(&mu);
      return static_cast<int>(presented.size());
    }
    int in_flight() {
      absl::MutexLock lock(&mu);
      return static_cast<int>(pending.size());
    }
    // Blocks until `n` refreshes are in flight (a real condition, no sleep).
    void AwaitInFlight(int n) {
      absl::MutexLock lock(&mu);
      auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return static_cast<int>(pending.size()) >= n;
      };
      mu.Await(absl::Condition(&enough));
    }
    // Completes the oldest refresh in flight with `result`, on this thread.
    void Complete(absl::StatusOr<v1::TokenResponse> result) {
      Done done;
      {
        absl::MutexLock lock(&mu);
        if (pending.empty()) return;
        done = std::move(pending.front().second);
        pending.pop_front();
      }
      done(std::move(result));
    }
  };

  explicit ManualRefresher(std::shared_ptr<State> state) : state_(std::move(state)) {}
  ~ManualRefresher() override {
    absl::MutexLock lock(&state_->mu);
    ++state_->destroyed;
  }

  void Refresh(const GrantRequest& request, Done done) override {
    absl::MutexLock lock(&state_->mu);
    state_->presented.push_back(request.refresh_token);
    state_->pending.emplace_back(request.refresh_token, std::move(done));
  }
  bool NeedsRefreshToken() const override { return state_->needs_refresh_token; }

 private:
  std::shared_ptr<State> state_;
};

inline v1::TokenResponse Bearer(std::string access, std::string refresh = "",
                                int64_t expires_in = 3600) {
  v1::TokenResponse r;
  r.set_access_token(std::move(access));
  r.set_token_type("Bearer");
  r.set_expires_in(expires_in);
  r.set_refresh_token(std::move(refresh));
  return r;
}

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_MANUAL_REFRESHER_H_
