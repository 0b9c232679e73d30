#include "interceptor/internal/refresh_coordinator.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "interceptor/internal/token_response.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {
namespace internal {
namespace {

std::atomic<uint64_t> next_coordinator_id{1};
std::atomic<uint64_t> next_snapshot_id{1};

// The coordinator whose application callback this thread is running, so that
// a callback that destroys its TokenManager does not wait for itself.
thread_local const RefreshCoordinator* running_callback_of = nullptr;

Token Sanitized(Token token) {
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

}  // namespace

std::shared_ptr<RefreshCoordinator> RefreshCoordinator::Create(
    Token initial, std::unique_ptr<TokenRefresher> refresher,
    TokenManagerOptions options, std::shared_ptr<Clock> clock) {
  if (options.store != nullptr) {
    absl::StatusOr<std::optional<Token>> stored = options.store->Load();
    if (!stored.ok()) {
      if (options.on_store_error) options.on_store_error(stored.status());
    } else if (stored->has_value()) {
      initial = **stored;
    }
  }
  std::shared_ptr<RefreshCoordinator> c(new RefreshCoordinator(
      std::move(refresher), std::move(options), std::move(clock)));
  MutexLock lock(&c->mu_);
  c->PublishLocked(Sanitized(std::move(initial)), absl::OkStatus(),
                   c->clock_->Now());
  return c;
}

RefreshCoordinator::RefreshCoordinator(std::unique_ptr<TokenRefresher> refresher,
                                       TokenManagerOptions options,
                                       std::shared_ptr<Clock> clock)
    : id_(next_coordinator_id.fetch_add(1, std::memory_order_relaxed)),
      options_(std::move(options)),
      clock_(std::move(clock)),
      needs_refresh_token_(refresher == nullptr || refresher->NeedsRefreshToken()),
      refresher_(std::move(refresher)),
      backoff_(options_),
      refresh_random_(options_.jitter_seed != 0 ? options_.jitter_seed + 1
                                                : std::random_device{}()) {}

RefreshCoordinator::~RefreshCoordinator() { Shutdown(); }

void RefreshCoordinator::PublishLocked(Token token, absl::Status session_expired,
                                       absl::Time obtained) {
  auto s = std::make_shared<TokenSnapshot>();
  s->id = next_snapshot_id.fetch_add(1, std::memory_order_relaxed);
  if (token.expires_at != absl::InfiniteFuture()) {
    const absl::Duration lifetime =
        std::max(absl::ZeroDuration(), token.expires_at - obtained);
    const absl::Duration margin =
        std::min(options_.refresh_margin, lifetime * options_.refresh_margin_fraction);
    // Somewhere in the first refresh_jitter of the margin, per token.
    std::uniform_real_distribution<double> jitter(
        0.0, std::clamp(options_.refresh_jitter, 0.0, 1.0));
    s->refresh_after = token.expires_at - margin + margin * jitter(refresh_random_);
  }
  s->generation = current_ ? current_->generation + 1 : 1;
  if (!token.access_token.empty()) {
    s->authorization = absl::StrCat("Bearer ", token.access_token);
  }
  s->token = std::move(token);
  s->session_expired = std::move(session_expired);
  current_ = std::move(s);
  version_.fetch_add(1, std::memory_order_release);
}

const TokenSnapshot& RefreshCoordinator::Current() {
  struct Cache {
    uint64_t owner = 0;
    uint64_t version = 0;
    Snapshot snapshot;
  };
  static thread_local Cache cache;
  if (cache.owner != id_ ||
      cache.version != version_.load(std::memory_order_acquire)) {
    MutexLock lock(&mu_);
    cache.snapshot = current_;
    cache.version = version_.load(std::memory_order_relaxed);
    cache.owner = id_;
  }
  return *cache.snapshot;
}

bool RefreshCoordinator::SendableAt(const TokenSnapshot& s, absl::Time now) const {
  return s.session_expired.ok() && !s.authorization.empty() &&
         s.generation > rejected_generation_.load(std::memory_order_acquire) &&
         now < s.token.expires_at;
}

bool RefreshCoordinator::Sendable(const TokenSnapshot& s) {
  const absl::Time now = clock_->Now();
  if (!SendableAt(s, now)) return false;
  if (now >= s.refresh_after &&
      early_refresh_generation_.load(std::memory_order_relaxed) != s.generation) {
    RefreshEarly(s.generation);
  }
  return true;
}

void RefreshCoordinator::RefreshEarly(uint64_t generation) {
  std::optional<Grant> grant;
  {
    MutexLock lock(&mu_);
    if (shutdown_ || current_->generation != generation ||
        !current_->session_expired.ok()) {
      return;
    }
    const absl::Time now = clock_->Now();
    if (now < backoff_until_) return;  // a call after the backoff tries again
    // Once per token: later calls skip the lock.
    early_refresh_generation_.store(generation, std::memory_order_relaxed);
    if (refreshing_ || retry_scheduled_ || CannotGrantLocked()) {
      return;
    }
    grant = BeginRefreshLocked(now, /*for_rejection=*/false);
    grant->proactive = true;
  }
  if (logging()) {
    Log({"proactive refresh: the token is inside its refresh margin"});
  }
  SendRefresh(std::move(*grant));
}

void RefreshCoordinator::MarkRejectedLocked(uint64_t generation) {
  if (generation == current_->generation &&
      generation > rejected_generation_.load(std::memory_order_relaxed)) {
    rejected_generation_.store(generation, std::memory_order_release);
  }
}

bool RefreshCoordinator::LoopProtectedLocked(uint64_t generation,
                                             absl::Time now) {
  return generation == current_->generation && current_from_rejection_ &&
         now < current_since_ + options_.min_refresh_interval &&
         (accepted_generation_.load(std::memory_order_acquire) < generation ||
          replay_rejected_generation_ == generation);
}

void RefreshCoordinator::NoteAccepted(uint64_t generation) {
  uint64_t seen = accepted_generation_.load(std::memory_order_relaxed);
  while (seen < generation &&
         !accepted_generation_.compare_exchange_weak(
             seen, generation, std::memory_order_release,
             std::memory_order_relaxed)) {
  }
}

void RefreshCoordinator::NoteReplayRejected(uint64_t generation) {
  MutexLock lock(&mu_);
  if (generation == 0) {
    if (refreshing_ || retry_scheduled_) {
      next_replay_rejected_ = true;
      return;
    }
    generation = current_->generation;
  }
  if (generation > replay_rejected_generation_) {
    replay_rejected_generation_ = generation;
  }
}

RefreshCoordinator::Grant RefreshCoordinator::BeginRefreshLocked(
    absl::Time now, bool for_rejection) {
  refreshing_ = true;
  refreshing_for_rejection_ = for_rejection;
  ++stats_.refreshes_started;
  // A refresher that needs no refresh token is never given one, even when a
  // token service returned one anyway: its grants do not present it, so
  // their failures are never an expired session.
  return Grant{needs_refresh_token_ ? current_->token.refresh_token : std::string(),
               current_->token.access_token, epoch_, now};
}

void RefreshCoordinator::ExpireWithoutRefreshTokenLocked(Effects* fx) {
  EndLocked(TerminalReason::kSessionExpired,
            absl::UnauthenticatedError(
                "authrefresh: session expired, log in again: the access token "
                "was rejected or has expired, and there is no refresh token"),
            fx);
}

void RefreshCoordinator::EndLocked(TerminalReason reason, const absl::Status& status,
                                   Effects* fx) {
  if (reason == TerminalReason::kSessionExpired) {
    ++stats_.sessions_expired;
  } else {
    ++stats_.clients_rejected;
  }
  if (logging()) fx->log.push_back(std::string(status.message()));
  if (eventing()) {
    TokenEvent e{reason == TerminalReason::kSessionExpired
                     ? TokenEvent::Kind::kSessionExpired
                     : TokenEvent::Kind::kClientRejected};
    e.terminal = true;
    e.terminal_reason = reason;
    e.reason = status;
    fx->events.push_back(std::move(e));
  }
  fx->terminal = std::make_pair(reason, status);
  PublishLocked(current_->token, status, clock_->Now());
}

RefreshCoordinator::Wait RefreshCoordinator::Await(const WaitRequest& request,
                                                   WaitCallback done) {
  uint64_t rejected_generation = request.rejected_generation;
  const absl::Time deadline = request.deadline;
  Wait wait;
  std::optional<Grant> grant;
  Effects ended;
  {
    MutexLock lock(&mu_);
    if (shutdown_) {
      wait.ready = absl::UnavailableError(
          "authrefresh: the TokenManager was destroyed");
      return wait;
    }
    if (!current_->session_expired.ok()) {
      wait.ready = current_->session_expired;
      return wait;
    }
    const absl::Time now = clock_->Now();
    if (request.ambiguous && rejected_generation == current_->generation) {
      // Perhaps not a rejection at all: at most one such refresh per
      // interval, so that an application's retries of, say, UNAVAILABLE
      // during an outage do not become a refresh storm.
      if (now < ambiguous_marked_at_ + options_.min_refresh_interval) {
        rejected_generation = 0;
      } else if (!LoopProtectedLocked(rejected_generation, now)) {
        ambiguous_marked_at_ = now;
      }
    }
    if (rejected_generation != 0 && LoopProtectedLocked(rejected_generation, now)) {
      wait.declined = true;
      wait.ready = current_;
    } else {
      MarkRejectedLocked(rejected_generation);
      if (CurrentSendableLocked(now)) {
        wait.ready = current_;
        return wait;
      }
      if (!refreshing_ && !retry_scheduled_) {
        if (now < backoff_until_) {
          wait.ready = absl::UnavailableError(absl::StrCat(
              "authrefresh: token refresh is backing off after repeated "
              "failures; last error: ",
              last_error_.message()));
          return wait;
        }
        if (CannotGrantLocked()) {
          ExpireWithoutRefreshTokenLocked(&ended);
          wait.ready = ended.terminal->second;
        } else {
          grant = BeginRefreshLocked(now, rejected_generation != 0);
        }
      }
      if (!wait.ready) {
        wait.ticket = next_ticket_++;
        waiters_[wait.ticket].done = std::move(done);
        ++stats_.calls_waited;
      }
    }
  }
  if (wait.declined) {
    if (logging()) {
      Log({absl::StrCat("loop protection: a server rejected a token that a "
                        "rejection-driven refresh issued less than ",
                        absl::FormatDuration(options_.min_refresh_interval),
                        " ago; passing the rejection on, not refreshing")});
    }
    return wait;
  }
  if (ended.terminal) {
    Apply(std::move(ended));
    return wait;
  }
  const uint64_t ticket = wait.ticket;
  if (grant) SendRefresh(std::move(*grant));
  if (deadline != absl::InfiniteFuture()) {
    std::weak_ptr<RefreshCoordinator> weak = weak_from_this();
    std::shared_ptr<Clock::Timer> timer =
        clock_->Schedule(deadline, [weak, ticket] {
          if (auto self = weak.lock()) self->OnWaiterDeadline(ticket);
        });
    bool still_waiting = false;
    {
      MutexLock lock(&mu_);
      auto it = waiters_.find(ticket);
      if (it != waiters_.end()) {
        it->second.deadline_timer = timer;
        still_waiting = true;
      }
    }
    if (!still_waiting) timer->Cancel();
  }
  return wait;
}

bool RefreshCoordinator::CancelWait(uint64_t ticket) {
  std::shared_ptr<Clock::Timer> timer;
  {
    MutexLock lock(&mu_);
    auto it = waiters_.find(ticket);
    if (it == waiters_.end()) return false;
    timer = std::move(it->second.deadline_timer);
    waiters_.erase(it);
  }
  if (timer) timer->Cancel();
  return true;
}

void RefreshCoordinator::NoteRejection(uint64_t generation) {
  Effects fx;
  {
    MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    if (shutdown_ || generation < current_->generation) return;
    if (LoopProtectedLocked(generation, now)) return;
    MarkRejectedLocked(generation);
    if (!current_->session_expired.ok() || refreshing_ || retry_scheduled_ ||
        now < backoff_until_) {
      return;
    }
    if (CannotGrantLocked()) {
      ExpireWithoutRefreshTokenLocked(&fx);
    } else {
      fx.grant = BeginRefreshLocked(now, /*for_rejection=*/true);
    }
  }
  Apply(std::move(fx));
}

void RefreshCoordinator::SendRefresh(Grant grant) {
  std::shared_ptr<TokenRefresher> refresher;
  {
    MutexLock lock(&mu_);
    refresher = refresher_;
  }
  if (refresher == nullptr) return;  // shut down
  if (logging()) {
    Log({absl::StrCat(grant.proactive ? "proactive " : "", "refresh started: ",
                      grant.refresh_token.empty()
                          ? std::string("no refresh token, the refresher's own grant")
                          : absl::StrCat("presenting refresh token ",
                                         TokenFingerprint(grant.refresh_token)))});
  }
  if (eventing()) {
    TokenEvent e{TokenEvent::Kind::kRefreshStarted};
    e.proactive = grant.proactive;
    e.token_fingerprint = TokenFingerprint(grant.refresh_token);
    Emit({e});
  }
  std::weak_ptr<RefreshCoordinator> weak = weak_from_this();
  refresher->Refresh(
      GrantRequest{grant.refresh_token, grant.access_token},
      [weak, epoch = grant.epoch, sent_at = grant.sent_at,
       proactive = grant.proactive, presented = grant.refresh_token](
          absl::StatusOr<v1::TokenResponse> result) {
        if (auto self = weak.lock()) {
          self->OnRefreshDone(epoch, sent_at, proactive, presented,
                              std::move(result));
        }
      });
}

void RefreshCoordinator::ScheduleRetry(absl::Time when) {
  std::weak_ptr<RefreshCoordinator> weak = weak_from_this();
  std::shared_ptr<Clock::Timer> timer = clock_->Schedule(when, [weak] {
    if (auto self = weak.lock()) self->OnRetryTimer();
  });
  bool keep = false;
  {
    MutexLock lock(&mu_);
    if (retry_scheduled_ && retry_timer_ == nullptr) {
      retry_timer_ = timer;
      keep = true;
    }
  }
  if (!keep) timer->Cancel();
}

void RefreshCoordinator::OnRetryTimer() {
  Grant grant;
  {
    MutexLock lock(&mu_);
    if (shutdown_ || !retry_scheduled_ || refreshing_) return;
    retry_scheduled_ = false;
    retry_timer_.reset();
    grant = BeginRefreshLocked(clock_->Now(), refreshing_for_rejection_);
  }
  SendRefresh(std::move(grant));
}

void RefreshCoordinator::OnRefreshDone(uint64_t epoch, absl::Time sent_at,
                                       bool proactive,
                                       const std::string& presented,
                                       absl::StatusOr<v1::TokenResponse> result) {
  Effects fx;
  {
    MutexLock lock(&mu_);
    if (shutdown_) return;
    refreshing_ = false;
    if (epoch != epoch_) {
      DiscardLocked(&fx);
    } else if (!result.ok()) {
      FailRefreshLocked(result.status(), /*from_service=*/true, sent_at, proactive,
                        presented, &fx);
    } else {
      absl::StatusOr<Token> token = TokenFromResponse(*result, sent_at, current_->token);
      if (token.ok()) {
        PublishRefreshLocked(*std::move(token), sent_at, proactive, &fx);
      } else {
        // A malformed response: our own finding, transient.
        FailRefreshLocked(token.status(), /*from_service=*/false, sent_at, proactive,
                          presented, &fx);
      }
    }
  }
  Apply(std::move(fx));
}

void RefreshCoordinator::DiscardLocked(Effects* fx) {
  if (logging()) {
    fx->log.push_back("refresh result discarded: SetToken replaced the token "
                      "while the refresh was in flight");
  }
  // Made before SetToken: its result no longer matters. Calls that still
  // need a token get a grant with the new refresh token now; starting it
  // earlier would have put two grants in flight.
  if (!waiters_.empty() && !retry_scheduled_ && current_->session_expired.ok() &&
      !CurrentSendableLocked(clock_->Now()) && !CannotGrantLocked()) {
    fx->grant = BeginRefreshLocked(clock_->Now(), false);
  }
}

void RefreshCoordinator::PublishRefreshLocked(Token token, absl::Time sent_at,
                                              bool proactive, Effects* fx) {
  ++stats_.refreshes_succeeded;
  consecutive_failures_ = 0;
  round_failures_ = 0;
  backoff_until_ = absl::InfinitePast();
  last_error_ = absl::OkStatus();
  current_from_rejection_ = refreshing_for_rejection_;
  // The token's age counts from the request, as its lifetime does.
  current_since_ = sent_at;
  if (logging()) {
    fx->log.push_back(absl::StrCat(
        "refresh succeeded in ", absl::FormatDuration(clock_->Now() - sent_at),
        ": access token ", TokenFingerprint(token.access_token), ", expires ",
        token.expires_at == absl::InfiniteFuture()
            ? std::string("never (no expires_in)")
            : absl::StrCat("in ", absl::FormatDuration(token.expires_at - clock_->Now())),
        ", refresh token ",
        token.refresh_token == current_->token.refresh_token
            ? std::string("kept")
            : absl::StrCat("rotated to ", TokenFingerprint(token.refresh_token)),
        "; releasing ", waiters_.size(), " waiting calls"));
  }
  if (eventing()) {
    TokenEvent e{TokenEvent::Kind::kRefreshSucceeded};
    e.proactive = proactive;
    e.duration = clock_->Now() - sent_at;
    e.token_fingerprint = TokenFingerprint(token.access_token);
    fx->events.push_back(std::move(e));
  }
  fx->refreshed = token;
  PublishLocked(std::move(token), absl::OkStatus(), sent_at);
  if (next_replay_rejected_) {
    replay_rejected_generation_ = current_->generation;
    next_replay_rejected_ = false;
  }
  fx->outcome = current_;
  fx->release = TakeWaitersLocked();
}

void RefreshCoordinator::FailRefreshLocked(const absl::Status& cause, bool from_service,
                                           absl::Time sent_at, bool proactive,
                                           const std::string& presented, Effects* fx) {
  ++stats_.refreshes_failed;
  const RefreshFailure failure = ClassifyRefreshFailure(cause, from_service, !presented.empty());
  // Token services sometimes echo what they were sent.
  const std::string described = RedactLocked(DescribeCause(cause, from_service), presented);
  if (eventing()) {
    TokenEvent e{TokenEvent::Kind::kRefreshFailed};
    e.proactive = proactive;
    e.terminal = failure.terminal;
    e.terminal_reason = failure.reason;
    e.duration = clock_->Now() - sent_at;
    e.reason = absl::Status(cause.code(), RedactLocked(cause.message(), presented));
    fx->events.push_back(std::move(e));
  }
  if (failure.terminal) {
    if (logging()) {
      fx->log.push_back(absl::StrCat("refresh failed, terminal: ", described, "; failing ",
                                     waiters_.size(), " waiting calls"));
    }
    const absl::Status ended = TerminalStatus(failure.reason, described);
    EndLocked(failure.reason, ended, fx);
    fx->outcome = ended;
    fx->release = TakeWaitersLocked();
    return;
  }
  ++consecutive_failures_;
  ++round_failures_;
  last_error_ = absl::UnavailableError(described);
  absl::Duration delay = backoff_.DelayAfter(consecutive_failures_);
  if (std::optional<absl::Duration> asked = RetryAfterOf(cause)) {
    // The token service said when to come back (Retry-After).
    delay = std::max(delay, std::min(*asked, absl::Hours(1)));
  }
  const absl::Time next = clock_->Now() + delay;
  const bool give_up = round_failures_ >= options_.max_refresh_attempts;
  if (logging()) {
    fx->log.push_back(absl::StrCat(
        "refresh failed, transient (", round_failures_, " of ",
        options_.max_refresh_attempts, "): ", described,
        give_up ? absl::StrCat("; failing ", waiters_.size(),
                               " waiting calls, backing off ", absl::FormatDuration(delay))
                : absl::StrCat("; retrying in ", absl::FormatDuration(delay))));
  }
  if (give_up) {
    fx->outcome = absl::UnavailableError(absl::StrCat(
        "authrefresh: token refresh failed ", round_failures_,
        " times in a row; last error: ", described));
    round_failures_ = 0;
    backoff_until_ = next;
    // After the backoff, a call inside the margin may try again.
    early_refresh_generation_.store(0, std::memory_order_relaxed);
    fx->release = TakeWaitersLocked();
  } else {
    retry_scheduled_ = true;
    retry_timer_.reset();
    fx->retry_at = next;
  }
}

void RefreshCoordinator::Apply(Effects fx) {
  if (!fx.log.empty()) Log(fx.log);
  if (!fx.events.empty()) Emit(fx.events);
  if (fx.retry_at) ScheduleRetry(*fx.retry_at);
  if (fx.refreshed) {
    Persist(*fx.refreshed);
    if (options_.on_tokens_refreshed) {
      RunAppCallback([&] { options_.on_tokens_refreshed(*fx.refreshed); });
    }
  }
  // Before the calls are released, so that an application that sees a call
  // fail with "session expired" knows its callback has already run.
  if (fx.terminal) {
    const absl::Status& status = fx.terminal->second;
    const auto& callback = fx.terminal->first == TerminalReason::kSessionExpired
                               ? options_.on_session_expired
                               : options_.on_client_rejected;
    if (callback) RunAppCallback([&] { callback(status); });
  }
  if (!fx.release.empty()) Complete(std::move(fx.release), fx.outcome);
  if (fx.grant) SendRefresh(std::move(*fx.grant));
}

void RefreshCoordinator::OnWaiterDeadline(uint64_t ticket) {
  WaitCallback done;
  {
    MutexLock lock(&mu_);
    auto it = waiters_.find(ticket);
    if (it == waiters_.end()) return;
    done = std::move(it->second.done);
    waiters_.erase(it);
  }
  if (logging()) Log({"a waiting call reached its deadline"});
  done(absl::DeadlineExceededError(
      "authrefresh: deadline exceeded while waiting for a token refresh"));
}

std::vector<RefreshCoordinator::Waiter> RefreshCoordinator::TakeWaitersLocked() {
  std::vector<Waiter> taken;
  taken.reserve(waiters_.size());
  for (auto& [ticket, waiter] : waiters_) taken.push_back(std::move(waiter));
  waiters_.clear();
  return taken;
}

void RefreshCoordinator::Complete(std::vector<Waiter> waiters,
                                  const absl::StatusOr<Snapshot>& result) {
  for (Waiter& w : waiters) {
    if (w.deadline_timer) w.deadline_timer->Cancel();
    w.done(result);
  }
}

void RefreshCoordinator::SetToken(Token token) {
  std::vector<Waiter> release;
  std::shared_ptr<Clock::Timer> retry;
  std::optional<Grant> grant;
  Snapshot fresh;
  {
    MutexLock lock(&mu_);
    if (shutdown_) return;
    ++epoch_;  // a grant in flight stays in flight; its result is dropped
    retry_scheduled_ = false;
    retry = std::move(retry_timer_);
    consecutive_failures_ = 0;
    round_failures_ = 0;
    backoff_until_ = absl::InfinitePast();
    last_error_ = absl::OkStatus();
    current_from_rejection_ = false;
    PublishLocked(Sanitized(std::move(token)), absl::OkStatus(), clock_->Now());
    fresh = current_;
    if (CurrentSendableLocked(clock_->Now())) {
      release = TakeWaitersLocked();
    } else if (!waiters_.empty() && !refreshing_ && !CannotGrantLocked()) {
      grant = BeginRefreshLocked(clock_->Now(), false);
    }
  }
  if (retry) retry->Cancel();
  Persist(fresh->token);
  if (grant) SendRefresh(std::move(*grant));
  Complete(std::move(release), fresh);
}

Token RefreshCoordinator::CurrentToken() {
  MutexLock lock(&mu_);
  return current_->token;
}

TokenManagerStats RefreshCoordinator::Stats() {
  TokenManagerStats stats;
  {
    MutexLock lock(&mu_);
    stats = stats_;
  }
  stats.calls_replayed = calls_replayed_.load(std::memory_order_relaxed);
  return stats;
}

std::string RefreshCoordinator::RedactLocked(absl::string_view text,
                                             const std::string& presented) const {
  std::vector<std::pair<absl::string_view, std::string>> secrets;
  for (const std::string* s : {&current_->token.access_token,
                               &current_->token.refresh_token, &presented}) {
    if (!s->empty()) secrets.emplace_back(*s, TokenFingerprint(*s));
  }
  std::string out(text);
  for (const auto& [secret, fingerprint] : secrets) {
    absl::StrReplaceAll({{secret, fingerprint}}, &out);
  }
  return out;
}

void RefreshCoordinator::CountReplay() {
  calls_replayed_.fetch_add(1, std::memory_order_relaxed);
  if (eventing()) Emit({TokenEvent{TokenEvent::Kind::kCallReplayed}});
}

void RefreshCoordinator::Emit(const std::vector<TokenEvent>& events) {
  if (!options_.on_event) return;
  RunAppCallback([&] {
    for (const TokenEvent& e : events) options_.on_event(e);
  });
}

void RefreshCoordinator::Persist(const Token& token) {
  if (options_.store == nullptr) return;
  RunAppCallback([&] {
    absl::Status s = options_.store->Save(token);
    if (!s.ok()) {
      if (logging()) options_.debug_log(absl::StrCat("saving the token failed: ", s.message()));
      if (options_.on_store_error) options_.on_store_error(s);
    }
  });
}

void RefreshCoordinator::Log(const std::vector<std::string>& lines) {
  if (!options_.debug_log) return;
  RunAppCallback([&] {
    for (const std::string& line : lines) options_.debug_log(line);
  });
}

void RefreshCoordinator::RunAppCallback(const std::function<void()>& fn) {
  {
    MutexLock lock(&mu_);
    if (shutdown_) return;
    ++callbacks_running_;
  }
  const RefreshCoordinator* outer = running_callback_of;
  running_callback_of = this;
  fn();
  running_callback_of = outer;
  MutexLock lock(&mu_);
  if (--callbacks_running_ == 0) callbacks_done_.SignalAll();
}

void RefreshCoordinator::Shutdown() {
  std::vector<Waiter> release;
  std::shared_ptr<TokenRefresher> refresher;
  std::shared_ptr<Clock::Timer> retry;
  {
    MutexLock lock(&mu_);
    if (!shutdown_) {
      shutdown_ = true;
      ++epoch_;
      release = TakeWaitersLocked();
      refresher = std::move(refresher_);
      retry = std::move(retry_timer_);
      retry_scheduled_ = false;
    }
    // A callback of ours that destroys the TokenManager must not wait for
    // itself.
    const int own = running_callback_of == this ? 1 : 0;
    while (callbacks_running_ > own) mu_.Wait(&callbacks_done_);
  }
  if (retry) retry->Cancel();
  Complete(std::move(release),
           absl::UnavailableError("authrefresh: the TokenManager was destroyed "
                                  "while the call waited for a token refresh"));
  refresher.reset();  // cancels a grant in flight
}

}  // namespace internal
}  // namespace authrefresh
