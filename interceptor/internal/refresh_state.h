// interceptor/internal/refresh_state.h
//
// Defines `RefreshState`: the refresh state machine of one credential, as a
// value. It knows the current token, whether a grant is in flight, the
// failure counters and the backoff, and what loop protection remembers. Each
// transition takes the time as an argument and returns a `Decision` that the
// coordinator carries out (publish, send a grant, schedule a retry, release
// or fail the waiting calls, run a callback). No lock, no clock, no threads,
// no I/O: the coordinator holds the lock around it.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_STATE_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_STATE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "interceptor/internal/refresh_policy.h"
#include "interceptor/token.h"
#include "interceptor/token_event.h"
#include "interceptor/token_manager_options.h"

namespace authrefresh {
namespace internal {

// A grant to send: what the refresher is given, and what its answer is
// matched against.
struct GrantOrder {
  std::string refresh_token;  // presented; empty: none
  std::string access_token;   // the one to replace
  uint64_t epoch = 0;         // SetToken() since: the answer is discarded
  absl::Time sent_at;
  bool proactive = false;
  // Another attempt of an outage of the shared backend: not a new refresh
  // (neither counted in refreshes_started nor reported as started).
  bool outage_retry = false;
};

// What a finished grant reports, for diagnostics.
struct GrantReport {
  enum class Outcome {
    kSucceeded,
    kFailedTransient,
    kFailedTerminal,
    kDiscarded,
    kBackendUnreachable,  // GrantFailure::backend_unreachable: retried, calls wait on
  };
  Outcome outcome = Outcome::kSucceeded;
  bool proactive = false;
  absl::Duration took;
  bool rotated = false;     // kSucceeded: the refresh token changed
  int round_failures = 0;   // kFailedTransient: failed attempts in this round
  bool gave_up = false;     // kFailedTransient: the waiting calls now fail
  absl::Duration delay;     // kFailedTransient, kBackendUnreachable: until the next attempt
  bool outage_began = false;  // kBackendUnreachable: the first attempt of this outage
};

// What the coordinator does after a transition, in this order.
struct Decision {
  // The token or its terminal status changed: publish a snapshot.
  bool publish = false;
  // The generation whose proactive refresh is claimed (0: claim released).
  std::optional<uint64_t> early_refresh;
  std::optional<GrantReport> report;
  // Schedule the retry timer at this time / cancel the one scheduled.
  std::optional<absl::Time> retry_at;
  bool cancel_retry = false;
  // Save this token to the store; `refreshed`: and run on_tokens_refreshed.
  std::optional<Token> save;
  bool refreshed = false;
  // Refreshing stopped for good: run the terminal callback with terminal().
  std::optional<TerminalReason> ended;
  // Complete every waiting call: with the current snapshot, or with
  // `release_status`.
  enum class Release { kNone, kWithToken, kWithStatus };
  Release release = Release::kNone;
  absl::Status release_status;
  // Send this grant (last).
  std::optional<GrantOrder> grant;
};

// What a call asks for (RefreshCoordinator::Await).
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

struct AwaitDecision {
  enum class Answer {
    kToken,     // send the current token
    kDeclined,  // loop protection: send the rejected token once more
    kFail,      // fail with `status`
    kWait,      // wait for the refresh
  };
  Answer answer = Answer::kWait;
  absl::Status status;
  Decision then;
};

// A finished grant, examined outside the lock: the token (checked; what the
// answer did not carry is filled in from the current token under the lock,
// by OnGrantDone) or what its error means.
struct GrantResult {
  GrantOrder order;
  std::optional<Token> token;
  GrantFailure failure;  // when !token
};

class RefreshState {
 public:
  // `initial` (UsableToken) is the current token, generation 1.
  RefreshState(const TokenManagerOptions& options, bool needs_refresh_token,
               Token initial, absl::Time now);

  // What the snapshot of the current generation shows.
  const Token& token() const { return token_; }
  uint64_t generation() const { return generation_; }
  const absl::Status& terminal() const { return terminal_; }
  absl::Time refresh_after() const { return refresh_after_; }
  uint64_t rejected_generation() const { return rejected_generation_; }
  bool shut_down() const { return shut_down_; }
  bool retry_scheduled() const { return retry_scheduled_; }
  // While refreshes find the shared backend unreachable: why calls are
  // waiting (the last attempt's redacted error); OK otherwise.
  const absl::Status& backend_unreachable() const { return backend_unreachable_; }
  const TokenManagerStats& stats() const { return stats_; }

  // A call asks for a sendable token; `accepted` is the newest generation a
  // server accepted.
  AwaitDecision Await(const WaitRequest& request, absl::Time now, uint64_t accepted);
  // A server rejected `generation` and no replay will carry a new token
  // (RefreshCoordinator::NoteRejection).
  Decision OnRejection(uint64_t generation, absl::Time now, uint64_t accepted);
  // A replay that carried `generation` was rejected too (0: the replay ended
  // before its token arrived; the refresh in flight brings the rejected one).
  void OnReplayRejected(uint64_t generation);
  // A call found `generation` inside its refresh margin.
  Decision OnRefreshDue(uint64_t generation, absl::Time now);
  // The grant of `result.order` finished; `has_waiters`: calls are waiting.
  Decision OnGrantDone(const GrantResult& result, absl::Time now, bool has_waiters);
  // The retry timer fired.
  Decision OnRetryTimer(absl::Time now);
  // The application replaced the token.
  Decision SetToken(Token token, absl::Time now, bool has_waiters);
  // Everything ends; later transitions do nothing.
  Decision Shutdown();

 private:
  bool SendableAt(absl::Time now) const;
  bool CannotGrant() const { return needs_refresh_token_ && token_.refresh_token.empty(); }
  // Loop protection: whether a rejection of `generation` must not start a
  // refresh. True when it is the current token, a refresh that a rejection
  // caused issued it less than min_refresh_interval ago, and either no
  // server has accepted it yet or a replay carrying it was rejected: the
  // server is rejecting the new tokens too.
  bool LoopProtected(uint64_t generation, absl::Time now, uint64_t accepted) const;
  void MarkRejected(uint64_t generation);
  GrantOrder BeginRefresh(absl::Time now, bool for_rejection);
  // Makes `token` the next generation; `obtained`: when it was obtained, if
  // its issued_at is unknown.
  void Publish(Token token, absl::Status terminal, absl::Time obtained, Decision* d);
  void End(TerminalReason reason, absl::Status status, absl::Time now, Decision* d);
  // No refresh token to grant with and no sendable token: the session is over.
  void EndWithoutRefreshToken(absl::Time now, Decision* d);
  void Succeeded(Token token, const GrantOrder& order, absl::Time now, Decision* d);
  void Failed(const GrantFailure& failure, const GrantOrder& order, absl::Time now,
              Decision* d);
  void BackendUnreachable(const GrantFailure& failure, const GrantOrder& order, absl::Time now,
                          Decision* d);
  void EndOutage();
  void Discarded(absl::Time now, bool has_waiters, Decision* d);
  // Calls wait for a token that is not sendable: start a grant, or, with no
  // refresh token to grant with, end the session and fail them.
  void GrantForWaiters(absl::Time now, Decision* d);
  void ResetFailures();

  const absl::Duration refresh_margin_;
  const double refresh_margin_fraction_;
  const double refresh_jitter_;
  const int max_refresh_attempts_;
  const absl::Duration min_refresh_interval_;
  const bool needs_refresh_token_;

  // The current generation.
  Token token_;
  uint64_t generation_ = 0;
  absl::Status terminal_;
  absl::Time refresh_after_ = absl::InfiniteFuture();
  uint64_t rejected_generation_ = 0;

  bool shut_down_ = false;
  // A grant is in flight. SetToken bumps the epoch so that the answer of a
  // grant made with an older token is discarded.
  bool refreshing_ = false;
  uint64_t epoch_ = 0;
  // Loop protection: whether the grant in flight, and the one that made the
  // current token, were caused by a rejection; and when that token's grant
  // was sent.
  bool refreshing_for_rejection_ = false;
  bool current_from_rejection_ = false;
  absl::Time current_since_ = absl::InfinitePast();
  // The newest generation a replay carried and had rejected, and whether
  // the token of the refresh in flight counts as rejected already.
  uint64_t replay_rejected_generation_ = 0;
  bool next_replay_rejected_ = false;
  // When an ambiguous suspicion last marked the token rejected.
  absl::Time ambiguous_marked_at_ = absl::InfinitePast();
  // A retry is scheduled (transient failure, attempts left in the round).
  bool retry_scheduled_ = false;
  // Consecutive failures (drives the backoff delay; reset by a success) and
  // failures in the current round of waiters (reset when they are released).
  int consecutive_failures_ = 0;
  int round_failures_ = 0;
  // No new grant before this time; calls that need one fail with
  // backing_off_ meanwhile (set only when a round ran out of attempts).
  absl::Time backoff_until_ = absl::InfinitePast();
  absl::Status backing_off_;
  // The shared backend's outage: the last attempt's error (OK when there is
  // none) and the attempts since it began; counted apart from the failures
  // above, which are the token service's.
  absl::Status backend_unreachable_;
  int backend_retries_ = 0;
  Backoff backoff_;
  TokenManagerStats stats_;
};

// `token` as a TokenManager starts from it: a token that could not be sent
// as a header value is treated as absent.
Token UsableToken(Token token);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_STATE_H_
