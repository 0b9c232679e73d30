// interceptor/internal/refresh_coordinator.h
//
// Defines `RefreshCoordinator`, where calls wait and where the refresh
// happens. It holds the lock, the waiting calls and the timers, and carries
// out the decisions of the refresh state machine (refresh_state.h): it
// publishes tokens (token_publisher.h), sends grants to the TokenRefresher,
// completes waiters, and reports (refresh_diagnostics.h) and runs
// application callbacks (callback_gate.h) outside the lock.
//
// It knows nothing of gRPC (time and timers come from a Clock, grants from a
// TokenRefresher), so it is tested under ThreadSanitizer with fakes.
//
// Locking: one Mutex guards the state, the waiters and the timers. It is
// never held while calling the refresher, a waiter, an application callback
// or Clock::Timer::Cancel.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_COORDINATOR_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_COORDINATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "interceptor/clock.h"
#include "interceptor/internal/callback_gate.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/internal/ordered_saver.h"
#include "interceptor/internal/refresh_diagnostics.h"
#include "interceptor/internal/refresh_state.h"
#include "interceptor/internal/token_publisher.h"
#include "interceptor/token.h"
#include "interceptor/token_manager_options.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {
namespace internal {

class RefreshCoordinator
    : public std::enable_shared_from_this<RefreshCoordinator> {
 public:
  using Snapshot = TokenPublisher::Snapshot;
  // Receives a snapshot with a usable token, or the status to end the call
  // with (UNAUTHENTICATED, UNAVAILABLE, DEADLINE_EXCEEDED).
  using WaitCallback = std::function<void(absl::StatusOr<Snapshot>)>;
  using WaitRequest = internal::WaitRequest;

  // What Await returns: the answer now, or a ticket for CancelWait.
  // `declined`: loop protection (RefreshState::LoopProtected); `ready` then
  // holds the rejected token itself, to be sent once more so that the
  // server's own answer reaches the application.
  struct Wait {
    std::optional<absl::StatusOr<Snapshot>> ready;
    uint64_t ticket = 0;
    bool declined = false;
  };

  // Starts from the store's token when `options.store` holds one.
  static std::shared_ptr<RefreshCoordinator> Create(
      Token initial, std::unique_ptr<TokenRefresher> refresher,
      TokenManagerOptions options, std::shared_ptr<Clock> clock);
  ~RefreshCoordinator();

  absl::Time Now() const { return clock_->Now(); }

  // The current snapshot (TokenPublisher::Current: lock-free unless it
  // changed, valid until this thread asks again).
  const TokenSnapshot& Current() { return publisher_.Current(); }
  // Whether the refresher has a DPoP key: its tokens may be DPoP-bound.
  bool dpop() const { return !publisher_.dpop_jkt().empty(); }

  // Whether `s` may be sent at `now`: not expired, not rejected by a server
  // already, not terminal. No side effects.
  bool Sendable(const TokenSnapshot& s, absl::Time now) const {
    return publisher_.Sendable(s, now);
  }

  // Starts the background (proactive) refresh of `s` if `now` is inside its
  // refresh margin, once per token; the call goes out with `s` meanwhile.
  // Lock-free unless it starts one.
  void RefreshIfDue(const TokenSnapshot& s, absl::Time now) {
    if (now >= s.refresh_after && publisher_.early_refresh() != s.generation) {
      RefreshEarly(s.generation);
    }
  }

  // Asks for a sendable token newer than `request.rejected_generation`.
  // Answers at once when it can (a newer token exists, refreshing stopped for
  // good, the refresh is backing off after max attempts, loop protection);
  // otherwise registers `done`, starting the refresh if none is in flight,
  // and calls it exactly once, unless CancelWait(ticket) returns true first.
  // It runs on the thread that ends the wait (the refresher's completion,
  // SetToken, the deadline timer, Shutdown); that may be this thread, before
  // Await returns, if the refresher completes inline.
  Wait Await(const WaitRequest& request, WaitCallback done) ABSL_LOCKS_EXCLUDED(mu_);

  // Removes a waiter. True if it was still waiting: its callback will not
  // run. Never blocks.
  bool CancelWait(uint64_t ticket) ABSL_LOCKS_EXCLUDED(mu_);

  // A server rejected the token of `generation` and no replay will carry a
  // new one: a call's final answer was a rejection (IsRejection), or a call
  // that authrefresh does not let gRPC replay was rejected (StopReplay).
  // Starts the refresh if that is still the current token, loop protection
  // allows it, and none is in flight or backing off, so that the next call
  // succeeds; with no refresh token to present, ends the session instead
  // (on_session_expired runs on this thread). Does not wait for the refresh.
  void NoteRejection(uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);

  // A server accepted the token of `generation` (a call ended OK). A token
  // that was accepted and is later rejected has expired or was revoked:
  // loop protection never holds its refresh back. Lock-free.
  void NoteAccepted(uint64_t generation) { publisher_.NoteAccepted(generation); }

  // A replay that carried the token of `generation`, newer than the token
  // its call was first rejected with, was rejected as well: refreshing did
  // not help that call, so loop protection applies to `generation` even if
  // other calls had it accepted (a token a server accepts for some methods
  // only, e.g. insufficient_scope). `generation` 0: the replay ended before
  // it had a token (gRPC's client failed it while it waited for the refresh
  // in flight); the token that refresh brings counts as the rejected one.
  void NoteReplayRejected(uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);

  // gRPC started an attempt after a call's first, and authrefresh's
  // credentials ran for it (TokenManagerStats::calls_replayed).
  void CountReplay();

  // For metrics only (TokenManagerOptions::metrics): a call attempt a
  // server rejected for its token, and a call that ended with authrefresh's
  // own status `code`.
  void CountRejection() const { diagnostics_.CallRejected(); }
  void CountFailure(absl::StatusCode code) const { diagnostics_.CallFailed(code); }

  void SetToken(Token token) ABSL_LOCKS_EXCLUDED(mu_);
  Token CurrentToken() const { return publisher_.Latest()->token; }
  TokenManagerStats Stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Ends everything: waiters fail with UNAVAILABLE, the refresher is
  // destroyed (cancelling its grant), timers are cancelled. Returns after
  // any application callback already running has returned. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Waiter {
    WaitCallback done;
    std::shared_ptr<Clock::Timer> deadline_timer;
  };
  // A decision with what the lock released along with it.
  struct Effects {
    Decision decision;
    std::vector<Waiter> release;
    Snapshot current;  // after the decision
    std::shared_ptr<Clock::Timer> cancel;  // the retry timer to cancel
    uint64_t save_generation = 0;          // of decision.save
    size_t waiting = 0;                    // waiters before the decision
  };

  RefreshCoordinator(std::unique_ptr<TokenRefresher> refresher, TokenManagerOptions options,
                     std::shared_ptr<Clock> clock, Token initial);

  // Carries out what the state decided, under the lock: publishes, takes the
  // waiters to release and the timer to cancel.
  Effects TakeEffectsLocked(Decision d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The rest, without the lock, in a fixed order: diagnostics, retry timer,
  // persistence and on_tokens_refreshed, the terminal callback (before the
  // calls fail, so that an application that sees "session expired" knows
  // its callback ran), releasing waiters, sending a grant.
  void Apply(Effects fx, const GrantFailure* failure = nullptr) ABSL_LOCKS_EXCLUDED(mu_);
  void RefreshEarly(uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);
  void SendGrant(GrantOrder order) ABSL_LOCKS_EXCLUDED(mu_);
  void OnGrantDone(GrantOrder order, absl::StatusOr<Token> result) ABSL_LOCKS_EXCLUDED(mu_);
  void ScheduleRetry(absl::Time when) ABSL_LOCKS_EXCLUDED(mu_);
  void OnRetryTimer() ABSL_LOCKS_EXCLUDED(mu_);
  void ArmDeadline(uint64_t ticket, absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  void OnWaiterDeadline(uint64_t ticket) ABSL_LOCKS_EXCLUDED(mu_);
  // Hands `token` to the store through saver_ (in generation order).
  void Persist(uint64_t generation, const Token& token) ABSL_LOCKS_EXCLUDED(mu_);
  // One store Save, on this thread, reporting a failure.
  void SaveNow(const Token& token) ABSL_LOCKS_EXCLUDED(mu_);
  // Calls each waiter with `result`, cancelling its deadline timer first.
  static void Complete(std::vector<Waiter> waiters, const absl::StatusOr<Snapshot>& result);

  const TokenManagerOptions options_;
  const std::shared_ptr<Clock> clock_;
  CallbackGate gate_;
  const RefreshDiagnostics diagnostics_;
  TokenPublisher publisher_;
  OrderedSaver saver_{[this](const Token& token) { SaveNow(token); }};
  std::atomic<uint64_t> calls_replayed_{0};

  mutable Mutex mu_;
  RefreshState state_ ABSL_GUARDED_BY(mu_);
  // Shared so that a grant can be sent without the lock while Shutdown drops
  // the coordinator's reference.
  std::shared_ptr<TokenRefresher> refresher_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Clock::Timer> retry_timer_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  // The token.expires_in gauge's registration; Shutdown ends it.
  std::unique_ptr<MetricsSink::Observation> expiry_gauge_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_COORDINATOR_H_
