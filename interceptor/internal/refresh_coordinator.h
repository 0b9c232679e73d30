// interceptor/internal/refresh_coordinator.h
//
// Defines `RefreshCoordinator`, where calls wait and where the refresh
// happens: the current token, published for lock-free reads, and the
// single-flight refresh with its waiters, backoff and failure policy.
//
// It knows nothing of gRPC (time and timers come from a Clock, grants from a
// TokenRefresher), so it is tested under ThreadSanitizer with fakes.
//
// Locking: one Mutex guards the state. It is never held while calling the
// refresher, a waiter, an application callback or Clock::Timer::Cancel.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_COORDINATOR_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_COORDINATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "interceptor/clock.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/internal/refresh_policy.h"
#include "interceptor/token.h"
#include "interceptor/token_manager.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {
namespace internal {

// One published token. Immutable; replaced whole on every change.
struct TokenSnapshot {
  // Unique among all snapshots of the process, of every coordinator.
  uint64_t id = 0;
  Token token;
  // Starts at 1 and grows by one with every new token (refresh or SetToken).
  uint64_t generation = 0;
  // "Bearer <access_token>", or empty when there is no usable access token.
  std::string authorization;
  // Set while the session is expired: calls fail at once with it.
  absl::Status session_expired;
  // From this time on, a call starts a background (proactive) refresh.
  absl::Time refresh_after = absl::InfiniteFuture();
};

class RefreshCoordinator
    : public std::enable_shared_from_this<RefreshCoordinator> {
 public:
  using Snapshot = std::shared_ptr<const TokenSnapshot>;
  // Receives a snapshot with a usable token, or the status to end the call
  // with (UNAUTHENTICATED, UNAVAILABLE, DEADLINE_EXCEEDED).
  using WaitCallback = std::function<void(absl::StatusOr<Snapshot>)>;

  // What a call asks Await for.
  struct WaitRequest {
    // The generation a server rejected (0: the call has no token yet): the
    // answer is a sendable token newer than it.
    uint64_t rejected_generation = 0;
    // The rejection is only suspected: the call's retry policy also retries
    // other codes. Such suspicions start at most one refresh per
    // min_refresh_interval.
    bool ambiguous = false;
    // A finite deadline ends the wait with DEADLINE_EXCEEDED.
    absl::Time deadline = absl::InfiniteFuture();
  };

  // What Await returns: the answer now, or a ticket for CancelWait.
  // `declined`: loop protection (see LoopProtectedLocked); `ready` then holds
  // the rejected token itself, to be sent once more so that the server's own
  // answer reaches the application.
  struct Wait {
    std::optional<absl::StatusOr<Snapshot>> ready;
    uint64_t ticket = 0;
    bool declined = false;
  };

  static std::shared_ptr<RefreshCoordinator> Create(
      Token initial, std::unique_ptr<TokenRefresher> refresher,
      TokenManagerOptions options, std::shared_ptr<Clock> clock);
  ~RefreshCoordinator();

  // The current snapshot. Lock-free unless it changed since this thread last
  // asked. The reference stays valid until this thread calls Current() again
  // (on any coordinator); copy what you need before then.
  const TokenSnapshot& Current();

  // Whether `s` may be sent now: not expired, not rejected by a server
  // already, not a dead session. Inside the proactive-refresh margin it also
  // starts the background refresh (once), without waiting for it.
  bool Sendable(const TokenSnapshot& s);

  // Whether `s` is sendable and before its proactive-refresh margin: a call
  // sent with it now is unlikely to be rejected. No side effects.
  bool Fresh(const TokenSnapshot& s) const {
    const absl::Time now = clock_->Now();
    return now < s.refresh_after && SendableAt(s, now);
  }

  // Asks for a sendable token newer than `request.rejected_generation`.
  // Answers at once when it can (a newer token exists, the session is
  // expired, the refresh is backing off after max attempts, loop
  // protection); otherwise registers `done`, starting the refresh if none is
  // in flight, and calls it exactly once, unless CancelWait(ticket) returns
  // true first. It runs on the thread that completed the refresh or timer;
  // that may be this thread, before Await returns, if the refresher
  // completes inline.
  Wait Await(const WaitRequest& request, WaitCallback done);

  // Removes a waiter. True if it was still waiting: its callback will not
  // run. Never blocks.
  bool CancelWait(uint64_t ticket);

  // A call's final answer was the server's rejection of the token of
  // `generation` (a rejection that could not be replayed); start the refresh
  // if that is still the current token and none is in flight or backing
  // off, so that the next call succeeds. Never waits.
  void NoteRejection(uint64_t generation);

  // A server accepted the token of `generation` (a call ended OK). A token
  // that was accepted and is later rejected has expired or was revoked:
  // loop protection never holds its refresh back. Lock-free.
  void NoteAccepted(uint64_t generation);

  // A replay that carried the token of `generation`, newer than the token
  // its call was first rejected with, was rejected as well: refreshing did
  // not help that call, so loop protection applies to `generation` even if
  // other calls had it accepted (a token a server accepts for some methods
  // only, e.g. insufficient_scope).
  // `generation` 0: the replay ended before it had a token (gRPC's client
  // failed it while it waited for the refresh in flight); the token that
  // refresh brings counts as the rejected one.
  void NoteReplayRejected(uint64_t generation);

  void SetToken(Token token);
  Token CurrentToken();
  TokenManagerStats Stats();
  void CountReplay();

  // Ends everything: waiters fail with UNAVAILABLE, the refresher is
  // destroyed (cancelling its grant), timers are cancelled. Returns after
  // any application callback already running has returned. Idempotent.
  void Shutdown();

 private:
  struct Waiter {
    WaitCallback done;
    std::shared_ptr<Clock::Timer> deadline_timer;
  };

  RefreshCoordinator(std::unique_ptr<TokenRefresher> refresher,
                     TokenManagerOptions options, std::shared_ptr<Clock> clock);

  // Publishes `token` as a new generation (with `session_expired`).
  // `obtained` is when the token was requested (for the proactive margin).
  void PublishLocked(Token token, absl::Status session_expired,
                     absl::Time obtained) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the proactive refresh for `generation` if it is still current and
  // nothing else is refreshing or backing off.
  void RefreshEarly(uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);
  // What SendRefresh needs; set by BeginRefreshLocked.
  struct Grant {
    std::string refresh_token;
    std::string access_token;  // the one to replace
    uint64_t epoch = 0;
    absl::Time sent_at;
    bool proactive = false;
  };
  // Marks a refresh in flight.
  Grant BeginRefreshLocked(absl::Time now, bool for_rejection)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records that a server rejected `generation` (if it is the current one).
  void MarkRejectedLocked(uint64_t generation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Loop protection: whether a rejection of `generation` must not start a
  // refresh. True when it is the current token, a refresh that a rejection
  // caused issued it less than min_refresh_interval ago, and either no
  // server has accepted it yet or a replay carrying it was rejected: the
  // server is rejecting the new tokens too.
  bool LoopProtectedLocked(uint64_t generation, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The one sendability rule, for `s` at `now` (no side effects).
  bool SendableAt(const TokenSnapshot& s, absl::Time now) const;
  bool CurrentSendableLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return SendableAt(*current_, now);
  }
  // What a change of state asks for, collected under the lock and applied
  // by Apply() without it, in a fixed order: log, events, retry timer,
  // persistence and on_tokens_refreshed, the terminal callback, releasing
  // waiters, sending a grant.
  struct Effects {
    std::vector<std::string> log;
    std::vector<TokenEvent> events;
    std::optional<absl::Time> retry_at;
    std::optional<Token> refreshed;
    std::optional<std::pair<TerminalReason, absl::Status>> terminal;
    std::vector<Waiter> release;
    absl::StatusOr<Snapshot> outcome = absl::UnknownError("unset");
    std::optional<Grant> grant;
  };
  void Apply(Effects fx) ABSL_LOCKS_EXCLUDED(mu_);
  // Refreshing stops for good, until SetToken: calls fail with `status`.
  void EndLocked(TerminalReason reason, const absl::Status& status, Effects* fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether no grant can be made: the refresher needs a refresh token and
  // there is none. A rejection then ends the session without a grant.
  bool CannotGrantLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return needs_refresh_token_ && current_->token.refresh_token.empty();
  }
  // Ends the session because there is no refresh token to present.
  void ExpireWithoutRefreshTokenLocked(Effects* fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The outcomes of a grant.
  void DiscardLocked(Effects* fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishRefreshLocked(Token token, absl::Time sent_at, bool proactive,
                            Effects* fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailRefreshLocked(const absl::Status& cause, bool from_service,
                         absl::Time sent_at, bool proactive,
                         const std::string& presented, Effects* fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Schedules OnRetryTimer at `when`. Called without the lock.
  void ScheduleRetry(absl::Time when) ABSL_LOCKS_EXCLUDED(mu_);
  // Emits events (if on_event is set). Called without the lock.
  void Emit(const std::vector<TokenEvent>& events) ABSL_LOCKS_EXCLUDED(mu_);
  bool eventing() const { return static_cast<bool>(options_.on_event); }
  // Emits debug_log lines (if set). Called without the lock.
  void Log(const std::vector<std::string>& lines) ABSL_LOCKS_EXCLUDED(mu_);
  bool logging() const { return static_cast<bool>(options_.debug_log); }
  // Saves `token` to options_.store, reporting a failure. Without the lock.
  void Persist(const Token& token) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs an application callback unless shut down; Shutdown waits for it.
  void RunAppCallback(const std::function<void()>& fn) ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the grant. Called without the lock.
  void SendRefresh(Grant grant) ABSL_LOCKS_EXCLUDED(mu_);
  void OnRefreshDone(uint64_t epoch, absl::Time sent_at, bool proactive,
                     const std::string& presented,
                     absl::StatusOr<v1::TokenResponse> result)
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnRetryTimer() ABSL_LOCKS_EXCLUDED(mu_);
  void OnWaiterDeadline(uint64_t ticket) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<Waiter> TakeWaitersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls each waiter with `result`, cancelling its deadline timer first.
  static void Complete(std::vector<Waiter> waiters,
                       const absl::StatusOr<Snapshot>& result);
  // Replaces every occurrence of the current tokens and of `presented` (the
  // refresh token a grant sent) in `text` with their fingerprints: token
  // services sometimes echo what they were sent.
  std::string RedactLocked(absl::string_view text,
                           const std::string& presented) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t id_;  // distinguishes coordinators in the per-thread cache
  const TokenManagerOptions options_;
  const std::shared_ptr<Clock> clock_;
  // TokenRefresher::NeedsRefreshToken(), asked once.
  const bool needs_refresh_token_;

  // Bumped (release) after every change of current_; read (acquire) by the
  // lock-free fast path.
  std::atomic<uint64_t> version_{0};
  std::atomic<uint64_t> calls_replayed_{0};
  // The newest generation a server has rejected: no new call sends it.
  // Written under mu_, read lock-free by Sendable().
  std::atomic<uint64_t> rejected_generation_{0};
  // The newest generation a server accepted (NoteAccepted).
  std::atomic<uint64_t> accepted_generation_{0};
  // The generation whose proactive refresh was already attempted, so the
  // fast path takes the lock once per token, not once per call.
  std::atomic<uint64_t> early_refresh_generation_{0};

  mutable Mutex mu_;
  absl::CondVar callbacks_done_;
  Snapshot current_ ABSL_GUARDED_BY(mu_);
  // Shared so that a grant can be sent without the lock while Shutdown
  // drops the coordinator's reference.
  std::shared_ptr<TokenRefresher> refresher_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int callbacks_running_ ABSL_GUARDED_BY(mu_) = 0;
  // A grant is in flight. `epoch_` identifies it; SetToken bumps the epoch so
  // that the result of a grant made with an older token is discarded.
  bool refreshing_ ABSL_GUARDED_BY(mu_) = false;
  // Loop protection: whether the grant in flight, and the one that made the
  // current token, were caused by a rejection; and when that token arrived.
  bool refreshing_for_rejection_ ABSL_GUARDED_BY(mu_) = false;
  bool current_from_rejection_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time current_since_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The newest generation a replay carried and had rejected, and whether
  // the token of the refresh in flight counts as rejected already.
  uint64_t replay_rejected_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool next_replay_rejected_ ABSL_GUARDED_BY(mu_) = false;
  // When an ambiguous suspicion last marked the token rejected.
  absl::Time ambiguous_marked_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // A retry is scheduled (transient failure, attempts left in the round).
  bool retry_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<Clock::Timer> retry_timer_ ABSL_GUARDED_BY(mu_);
  // Consecutive failures (drives the backoff delay; reset by a success) and
  // failures in the current round of waiters (reset when they are released).
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  int round_failures_ ABSL_GUARDED_BY(mu_) = 0;
  // No new grant before this time; calls that need one fail with
  // last_error_ meanwhile (set only when a round ran out of attempts).
  absl::Time backoff_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  Backoff backoff_ ABSL_GUARDED_BY(mu_);
  // Draws refresh_jitter for each published token.
  std::mt19937_64 refresh_random_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  TokenManagerStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_COORDINATOR_H_
