// A TokenRefresher the test completes by hand: each Refresh() is queued and
// finishes only when the test calls Complete(). Shared state outlives the
// refresher, so tests can inspect it after the TokenManager is gone.

#ifndef AUTHREFRESH_TESTS_TESTING_MANUAL_REFRESHER_H_
#define AUTHREFRESH_TESTS_TESTING_MANUAL_REFRESHER_H_

#include <deque>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "interceptor/clock.h"
#include "interceptor/internal/token_response.h"
#include "interceptor/token_refresher.h"
#include "protos/token_service.pb.h"

namespace authrefresh {
namespace testing {

class ManualRefresher final : public TokenRefresher {
 public:
  struct State {
    absl::Mutex mu;
    struct Pending {
      std::string refresh_token;
      Done done;
      absl::Time sent_at;  // when Refresh() was called
    };
    std::deque<Pending> pending ABSL_GUARDED_BY(mu);
    std::vector<std::string> presented ABSL_GUARDED_BY(mu);  // refresh tokens
    int destroyed ABSL_GUARDED_BY(mu) = 0;
    // What NeedsRefreshToken() answers: false for a client-credentials-like
    // grant. Set before the TokenManager is created.
    bool needs_refresh_token = true;
    // The time of Refresh() calls; null: absl::Now(). Set before the
    // TokenManager is created.
    std::shared_ptr<Clock> clock;

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
    // Completes the oldest refresh in flight with `result` as its token
    // service's answer, parsed as a refresher parses it (expires_in from
    // when Refresh was called), on this thread.
    void Complete(absl::StatusOr<v1::TokenResponse> result) {
      std::optional<Pending> p = Take();
      if (!p) return;
      if (!result.ok()) {
        p->done(result.status());
      } else {
        p->done(internal::TokenFromResponse(*result, p->sent_at));
      }
    }
    // The same with the refresher's own result.
    void CompleteWithToken(absl::StatusOr<Token> result) {
      std::optional<Pending> p = Take();
      if (p) p->done(std::move(result));
    }
    // The time the oldest refresh in flight was sent.
    absl::Time OldestSentAt() {
      absl::MutexLock lock(&mu);
      return pending.empty() ? absl::InfinitePast() : pending.front().sent_at;
    }

   private:
    std::optional<Pending> Take() {
      absl::MutexLock lock(&mu);
      if (pending.empty()) return std::nullopt;
      Pending p = std::move(pending.front());
      pending.pop_front();
      return p;
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
    const absl::Time now = state_->clock != nullptr ? state_->clock->Now() : absl::Now();
    state_->pending.push_back(State::Pending{request.refresh_token, std::move(done), now});
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
