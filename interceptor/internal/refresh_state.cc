#include "interceptor/internal/refresh_state.h"

#include <algorithm>
#include <utility>

#include "interceptor/internal/token_response.h"

namespace authrefresh {
namespace internal {

using Answer = AwaitDecision::Answer;
using Outcome = GrantReport::Outcome;

Token UsableToken(Token token) {
  if (!token.access_token.empty() &&
      !CheckTokenSyntax(token.access_token, "access_token").ok()) {
    token.access_token.clear();
  }
  if (!token.refresh_token.empty() &&
      !CheckTokenSyntax(token.refresh_token, "refresh_token").ok()) {
    token.refresh_token.clear();
  }
  return token;
}

RefreshState::RefreshState(const TokenManagerOptions& options, bool needs_refresh_token,
                           Token initial, absl::Time now)
    : refresh_margin_(options.refresh_margin),
      refresh_margin_fraction_(options.refresh_margin_fraction),
      refresh_jitter_(options.refresh_jitter),
      max_refresh_attempts_(options.max_refresh_attempts),
      min_refresh_interval_(options.min_refresh_interval),
      needs_refresh_token_(needs_refresh_token),
      backoff_(options) {
  Decision ignored;
  Publish(UsableToken(std::move(initial)), absl::OkStatus(), now, &ignored);
}

bool RefreshState::SendableAt(absl::Time now) const {
  return terminal_.ok() && !token_.access_token.empty() && now < token_.expires_at &&
         generation_ > rejected_generation_;
}

bool RefreshState::LoopProtected(uint64_t generation, absl::Time now,
                                 uint64_t accepted) const {
  return generation == generation_ && current_from_rejection_ &&
         now < current_since_ + min_refresh_interval_ &&
         (accepted < generation || replay_rejected_generation_ == generation);
}

void RefreshState::MarkRejected(uint64_t generation) {
  if (generation == generation_ && generation > rejected_generation_) {
    rejected_generation_ = generation;
  }
}

GrantOrder RefreshState::BeginRefresh(absl::Time now, bool for_rejection) {
  refreshing_ = true;
  refreshing_for_rejection_ = for_rejection;
  const bool outage_retry = !backend_unreachable_.ok();
  if (!outage_retry) ++stats_.refreshes_started;
  // A refresher that needs no refresh token is never given one, even when a
  // token service returned one anyway: its grants do not present it, so
  // their failures are never an expired session.
  return GrantOrder{needs_refresh_token_ ? token_.refresh_token : std::string(),
                    token_.access_token, epoch_, now, false, outage_retry};
}

void RefreshState::Publish(Token token, absl::Status terminal, absl::Time obtained,
                           Decision* d) {
  if (token.issued_at == absl::InfinitePast()) token.issued_at = obtained;
  refresh_after_ = absl::InfiniteFuture();
  if (token.expires_at != absl::InfiniteFuture()) {
    const absl::Duration lifetime =
        std::max(absl::ZeroDuration(), token.expires_at - token.issued_at);
    const absl::Duration margin =
        std::min(refresh_margin_, lifetime * refresh_margin_fraction_);
    // Somewhere in the first refresh_jitter of the margin, the same for
    // every holder of this token.
    refresh_after_ = token.expires_at - margin +
                     margin * RefreshJitterFraction(token.access_token, refresh_jitter_);
  }
  token_ = std::move(token);
  terminal_ = std::move(terminal);
  ++generation_;
  d->publish = true;
}

void RefreshState::End(TerminalReason reason, absl::Status status, absl::Time now,
                       Decision* d) {
  ++(reason == TerminalReason::kSessionExpired ? stats_.sessions_expired
                                               : stats_.clients_rejected);
  d->ended = reason;
  Token kept = token_;
  Publish(std::move(kept), std::move(status), now, d);
}

void RefreshState::EndWithoutRefreshToken(absl::Time now, Decision* d) {
  End(TerminalReason::kSessionExpired, NoRefreshTokenStatus(), now, d);
}

AwaitDecision RefreshState::Await(const WaitRequest& request, absl::Time now,
                                  uint64_t accepted) {
  AwaitDecision a;
  if (!terminal_.ok()) {
    a.answer = Answer::kFail;
    a.status = terminal_;
    return a;
  }
  uint64_t rejected = request.rejected_generation;
  if (request.ambiguous && rejected == generation_) {
    // Perhaps not a rejection at all: at most one such refresh per interval,
    // so that an application's retries of, say, UNAVAILABLE during an outage
    // do not become a refresh storm.
    if (now < ambiguous_marked_at_ + min_refresh_interval_) {
      rejected = 0;
    } else if (!LoopProtected(rejected, now, accepted)) {
      ambiguous_marked_at_ = now;
    }
  }
  if (rejected != 0 && LoopProtected(rejected, now, accepted)) {
    a.answer = Answer::kDeclined;
    return a;
  }
  MarkRejected(rejected);
  if (SendableAt(now)) {
    a.answer = Answer::kToken;
    return a;
  }
  if (!refreshing_ && !retry_scheduled_) {
    if (now < backoff_until_) {
      a.answer = Answer::kFail;
      a.status = backing_off_;
      return a;
    }
    if (CannotGrant()) {
      EndWithoutRefreshToken(now, &a.then);
      a.answer = Answer::kFail;
      a.status = terminal_;
      return a;
    }
    a.then.grant = BeginRefresh(now, rejected != 0);
  }
  a.answer = Answer::kWait;
  ++stats_.calls_waited;
  return a;
}

Decision RefreshState::OnRejection(uint64_t generation, absl::Time now, uint64_t accepted) {
  Decision d;
  if (shut_down_ || generation < generation_) return d;
  if (LoopProtected(generation, now, accepted)) return d;
  MarkRejected(generation);
  if (!terminal_.ok() || refreshing_ || retry_scheduled_ || now < backoff_until_) return d;
  if (CannotGrant()) {
    EndWithoutRefreshToken(now, &d);
  } else {
    d.grant = BeginRefresh(now, /*for_rejection=*/true);
  }
  return d;
}

void RefreshState::OnReplayRejected(uint64_t generation) {
  if (generation == 0) {
    if (refreshing_ || retry_scheduled_) {
      next_replay_rejected_ = true;
      return;
    }
    generation = generation_;
  }
  replay_rejected_generation_ = std::max(replay_rejected_generation_, generation);
}

Decision RefreshState::OnRefreshDue(uint64_t generation, absl::Time now) {
  Decision d;
  if (shut_down_ || generation != generation_ || !terminal_.ok()) return d;
  if (now < backoff_until_) return d;  // a call after the backoff tries again
  d.early_refresh = generation;        // once per token: later calls skip the lock
  if (refreshing_ || retry_scheduled_ || CannotGrant()) return d;
  d.grant = BeginRefresh(now, /*for_rejection=*/false);
  d.grant->proactive = true;
  return d;
}

Decision RefreshState::OnGrantDone(const GrantResult& result, absl::Time now,
                                   bool has_waiters) {
  Decision d;
  if (shut_down_) return d;
  refreshing_ = false;
  if (result.order.epoch != epoch_) {
    Discarded(now, has_waiters, &d);
  } else if (result.token.has_value()) {
    Succeeded(*result.token, result.order, now, &d);
  } else {
    Failed(result.failure, result.order, now, &d);
  }
  return d;
}

void RefreshState::Discarded(absl::Time now, bool has_waiters, Decision* d) {
  d->report = GrantReport{Outcome::kDiscarded};
  // Made before SetToken: its answer no longer matters. Calls that still
  // need a token get a grant with the new refresh token now; starting it
  // earlier would have put two grants in flight.
  if (has_waiters && !retry_scheduled_ && terminal_.ok() && !SendableAt(now)) {
    GrantForWaiters(now, d);
  }
}

void RefreshState::GrantForWaiters(absl::Time now, Decision* d) {
  if (!CannotGrant()) {
    d->grant = BeginRefresh(now, false);
    return;
  }
  // Nothing to grant with: the waiting calls fail now, as a new call would,
  // instead of waiting out their deadlines.
  EndWithoutRefreshToken(now, d);
  d->release = Decision::Release::kWithStatus;
  d->release_status = terminal_;
}

void RefreshState::EndOutage() {
  backend_unreachable_ = absl::OkStatus();
  backend_retries_ = 0;
}

void RefreshState::ResetFailures() {
  EndOutage();
  consecutive_failures_ = 0;
  round_failures_ = 0;
  backoff_until_ = absl::InfinitePast();
  backing_off_ = absl::OkStatus();
}

void RefreshState::Succeeded(Token token, const GrantOrder& order, absl::Time now,
                             Decision* d) {
  ++stats_.refreshes_succeeded;
  ResetFailures();
  current_from_rejection_ = refreshing_for_rejection_;
  // The token's age counts from the request, as its lifetime does.
  current_since_ = order.sent_at;
  token = WithKeptFields(std::move(token), token_);
  d->report = GrantReport{Outcome::kSucceeded, order.proactive, now - order.sent_at,
                          token.refresh_token != token_.refresh_token};
  Publish(std::move(token), absl::OkStatus(), order.sent_at, d);
  if (next_replay_rejected_) {
    replay_rejected_generation_ = generation_;
    next_replay_rejected_ = false;
  }
  d->save = token_;
  d->refreshed = true;
  d->release = Decision::Release::kWithToken;
}

void RefreshState::Failed(const GrantFailure& failure, const GrantOrder& order,
                          absl::Time now, Decision* d) {
  if (failure.backend_unreachable) {
    BackendUnreachable(failure, order, now, d);
    return;
  }
  EndOutage();  // the backend answered
  ++stats_.refreshes_failed;
  GrantReport report{failure.terminal ? Outcome::kFailedTerminal : Outcome::kFailedTransient,
                     order.proactive, now - order.sent_at};
  if (failure.terminal) {
    d->report = report;
    End(failure.reason, failure.terminal_status, now, d);
    d->release = Decision::Release::kWithStatus;
    d->release_status = terminal_;
    return;
  }
  ++consecutive_failures_;
  ++round_failures_;
  backing_off_ = failure.backing_off_status;
  absl::Duration delay = backoff_.DelayAfter(consecutive_failures_);
  // The token service said when to come back (Retry-After).
  if (failure.retry_after) delay = std::max(delay, *failure.retry_after);
  report.round_failures = round_failures_;
  report.gave_up = round_failures_ >= max_refresh_attempts_;
  report.delay = delay;
  d->report = report;
  if (report.gave_up) {
    d->release = Decision::Release::kWithStatus;
    d->release_status = failure.gave_up_status;
    round_failures_ = 0;
    backoff_until_ = now + delay;
    d->early_refresh = 0;  // after the backoff, a call inside the margin may try again
  } else {
    retry_scheduled_ = true;
    d->retry_at = now + delay;
  }
}

void RefreshState::BackendUnreachable(const GrantFailure& failure, const GrantOrder& order,
                                      absl::Time now, Decision* d) {
  ++stats_.shared_backend_unreachable;
  GrantReport report{Outcome::kBackendUnreachable, order.proactive, now - order.sent_at};
  report.outage_began = backend_unreachable_.ok();
  report.delay = BackendRetryDelay(backend_retries_++);
  backend_unreachable_ = failure.event_reason;
  d->report = report;
  // Neither a failed attempt nor a backoff: the token service was not asked.
  // The waiting calls wait on, each within its deadline.
  retry_scheduled_ = true;
  d->retry_at = now + report.delay;
}

Decision RefreshState::OnRetryTimer(absl::Time now) {
  Decision d;
  if (shut_down_ || !retry_scheduled_ || refreshing_) return d;
  retry_scheduled_ = false;
  d.grant = BeginRefresh(now, refreshing_for_rejection_);
  return d;
}

Decision RefreshState::SetToken(Token token, absl::Time now, bool has_waiters) {
  Decision d;
  if (shut_down_) return d;
  ++epoch_;  // a grant in flight stays in flight; its answer is dropped
  d.cancel_retry = true;
  retry_scheduled_ = false;
  ResetFailures();
  current_from_rejection_ = false;
  Publish(UsableToken(std::move(token)), absl::OkStatus(), now, &d);
  d.save = token_;
  if (SendableAt(now)) {
    d.release = Decision::Release::kWithToken;
  } else if (has_waiters && !refreshing_) {
    GrantForWaiters(now, &d);
  }
  return d;
}

Decision RefreshState::Shutdown() {
  Decision d;
  if (shut_down_) return d;
  shut_down_ = true;
  ++epoch_;
  d.cancel_retry = true;
  retry_scheduled_ = false;
  d.release = Decision::Release::kWithStatus;
  d.release_status = DestroyedWhileWaitingStatus();
  return d;
}

}  // namespace internal
}  // namespace authrefresh
