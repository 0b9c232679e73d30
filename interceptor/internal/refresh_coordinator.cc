#include "interceptor/internal/refresh_coordinator.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "interceptor/internal/refresh_policy.h"
#include "interceptor/internal/token_response.h"

namespace authrefresh {
namespace internal {

using Answer = AwaitDecision::Answer;
using Release = Decision::Release;

std::shared_ptr<RefreshCoordinator> RefreshCoordinator::Create(
    Token initial, std::unique_ptr<TokenRefresher> refresher, TokenManagerOptions options,
    std::shared_ptr<Clock> clock) {
  if (options.store != nullptr) {
    absl::StatusOr<std::optional<Token>> stored = options.store->Load();
    if (!stored.ok()) {
      if (options.on_store_error) options.on_store_error(stored.status());
    } else if (stored->has_value()) {
      initial = **stored;
    }
  }
  return std::shared_ptr<RefreshCoordinator>(new RefreshCoordinator(
      std::move(refresher), std::move(options), std::move(clock), std::move(initial)));
}

RefreshCoordinator::RefreshCoordinator(std::unique_ptr<TokenRefresher> refresher,
                                       TokenManagerOptions options,
                                       std::shared_ptr<Clock> clock, Token initial)
    : options_(std::move(options)),
      clock_(std::move(clock)),
      diagnostics_(options_, &gate_),
      publisher_(refresher != nullptr ? refresher->dpop_key() : nullptr),
      state_(options_, refresher == nullptr || refresher->NeedsRefreshToken(),
             UsableWithKey(std::move(initial), publisher_.dpop_jkt()), clock_->Now()),
      refresher_(std::move(refresher)) {
  std::unique_ptr<MetricsSink::Observation> gauge =
      diagnostics_.metrics().ObserveExpiry([this]() -> std::optional<double> {
        const Snapshot s = publisher_.Latest();
        // A collection may run before the first Publish below.
        if (s == nullptr || s->token.access_token.empty() || s->token.expires_at == absl::InfiniteFuture()) {
          return std::nullopt;
        }
        return absl::ToDoubleSeconds(s->token.expires_at - clock_->Now());
      });
  MutexLock lock(&mu_);
  publisher_.Publish(state_.generation(), state_.token(), state_.terminal(),
                     state_.refresh_after());
  expiry_gauge_ = std::move(gauge);
}

RefreshCoordinator::~RefreshCoordinator() { Shutdown(); }

RefreshCoordinator::Effects RefreshCoordinator::TakeEffectsLocked(Decision d) {
  Effects fx;
  if (d.publish) {
    fx.current = publisher_.Publish(state_.generation(), state_.token(), state_.terminal(),
                                    state_.refresh_after());
  } else {
    fx.current = publisher_.Latest();
  }
  publisher_.SetRejected(state_.rejected_generation());
  if (d.early_refresh) publisher_.SetEarlyRefresh(*d.early_refresh);
  if (d.save) fx.save_generation = state_.generation();
  if (d.cancel_retry) fx.cancel = std::move(retry_timer_);
  if (d.retry_at) retry_timer_.reset();  // the one that fired, if any
  fx.waiting = waiters_.size();
  if (d.release != Release::kNone) {
    fx.release.reserve(waiters_.size());
    for (auto& [ticket, waiter] : waiters_) fx.release.push_back(std::move(waiter));
    waiters_.clear();
  }
  fx.decision = std::move(d);
  return fx;
}

void RefreshCoordinator::Apply(Effects fx, const GrantFailure* failure) {
  Decision& d = fx.decision;
  if (fx.cancel != nullptr) fx.cancel->Cancel();
  if (d.report) {
    switch (d.report->outcome) {
      case GrantReport::Outcome::kSucceeded:
        diagnostics_.GrantSucceeded(*d.report, fx.current->token, fx.release.size(),
                                    clock_->Now());
        break;
      case GrantReport::Outcome::kDiscarded:
        diagnostics_.GrantDiscarded();
        break;
      default:
        if (failure != nullptr) {
          // The calls it fails, or (an outage) those that wait on.
          diagnostics_.GrantFailed(*d.report, *failure,
                                   d.release != Release::kNone ? fx.release.size() : fx.waiting,
                                   options_.max_refresh_attempts);
        }
    }
  }
  if (d.ended) diagnostics_.Ended(*d.ended, fx.current->terminal);
  if (d.retry_at) ScheduleRetry(*d.retry_at);
  if (d.save) {
    Persist(fx.save_generation, *d.save);
    if (d.refreshed && options_.on_tokens_refreshed) {
      gate_.Run([&] { options_.on_tokens_refreshed(*d.save); });
    }
  }
  if (d.ended) {
    const auto& callback = *d.ended == TerminalReason::kSessionExpired
                               ? options_.on_session_expired
                               : options_.on_client_rejected;
    if (callback) gate_.Run([&] { callback(fx.current->terminal); });
  }
  if (!fx.release.empty()) {
    Complete(std::move(fx.release), d.release == Release::kWithToken
                                        ? absl::StatusOr<Snapshot>(fx.current)
                                        : absl::StatusOr<Snapshot>(d.release_status));
  }
  if (d.grant) SendGrant(std::move(*d.grant));
}

RefreshCoordinator::Wait RefreshCoordinator::Await(const WaitRequest& request,
                                                   WaitCallback done) {
  Wait wait;
  AwaitDecision a;
  Effects fx;
  {
    MutexLock lock(&mu_);
    if (state_.shut_down()) {
      wait.ready = DestroyedStatus();
      return wait;
    }
    a = state_.Await(request, clock_->Now(), publisher_.accepted());
    if (a.answer == Answer::kWait) {
      wait.ticket = next_ticket_++;
      waiters_[wait.ticket].done = std::move(done);
    }
    fx = TakeEffectsLocked(std::move(a.then));
  }
  switch (a.answer) {
    case Answer::kToken:
      wait.ready = fx.current;
      break;
    case Answer::kDeclined:
      diagnostics_.LoopProtected(options_.min_refresh_interval);
      wait.declined = true;
      wait.ready = fx.current;
      break;
    case Answer::kFail:
      wait.ready = a.status;
      break;
    case Answer::kWait:
      break;
  }
  Apply(std::move(fx));
  if (a.answer == Answer::kWait) {
    diagnostics_.CallWaited();
    if (request.deadline != absl::InfiniteFuture()) ArmDeadline(wait.ticket, request.deadline);
  }
  return wait;
}

void RefreshCoordinator::ArmDeadline(uint64_t ticket, absl::Time deadline) {
  std::weak_ptr<RefreshCoordinator> weak = weak_from_this();
  std::shared_ptr<Clock::Timer> timer = clock_->Schedule(deadline, [weak, ticket] {
    if (auto self = weak.lock()) self->OnWaiterDeadline(ticket);
  });
  {
    MutexLock lock(&mu_);
    auto it = waiters_.find(ticket);
    if (it != waiters_.end()) {
      it->second.deadline_timer = std::move(timer);
      return;
    }
  }
  timer->Cancel();  // released already (the refresher answered inline)
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

void RefreshCoordinator::OnWaiterDeadline(uint64_t ticket) {
  WaitCallback done;
  absl::Status backend_unreachable;
  {
    MutexLock lock(&mu_);
    auto it = waiters_.find(ticket);
    if (it == waiters_.end()) return;
    done = std::move(it->second.done);
    waiters_.erase(it);
    backend_unreachable = state_.backend_unreachable();
  }
  diagnostics_.WaiterDeadline();
  done(absl::DeadlineExceededError(
      backend_unreachable.ok()
          ? std::string("authrefresh: deadline exceeded while waiting for a token refresh")
          : absl::StrCat("authrefresh: deadline exceeded while waiting for a token refresh: ",
                         backend_unreachable.message())));
}

void RefreshCoordinator::NoteRejection(uint64_t generation) {
  Effects fx;
  {
    MutexLock lock(&mu_);
    fx = TakeEffectsLocked(
        state_.OnRejection(generation, clock_->Now(), publisher_.accepted()));
  }
  Apply(std::move(fx));
}

void RefreshCoordinator::NoteReplayRejected(uint64_t generation) {
  MutexLock lock(&mu_);
  state_.OnReplayRejected(generation);
}

void RefreshCoordinator::RefreshEarly(uint64_t generation) {
  Effects fx;
  {
    MutexLock lock(&mu_);
    fx = TakeEffectsLocked(state_.OnRefreshDue(generation, clock_->Now()));
  }
  Apply(std::move(fx));
}

void RefreshCoordinator::SendGrant(GrantOrder order) {
  std::shared_ptr<TokenRefresher> refresher;
  {
    MutexLock lock(&mu_);
    refresher = refresher_;
  }
  if (refresher == nullptr) return;  // shut down
  if (!order.outage_retry) diagnostics_.GrantStarted(order);
  std::weak_ptr<RefreshCoordinator> weak = weak_from_this();
  GrantRequest request{order.refresh_token, order.access_token, order.sent_at};
  refresher->Refresh(request, [weak, order = std::move(order)](absl::StatusOr<Token> result) {
    if (auto self = weak.lock()) self->OnGrantDone(order, std::move(result));
  });
}

void RefreshCoordinator::OnGrantDone(GrantOrder order, absl::StatusOr<Token> result) {
  // Outside the lock: what the answer means, with every message made and
  // every token it might echo redacted.
  GrantResult examined{std::move(order)};
  absl::Status failed = result.status();
  if (result.ok()) failed = CheckGrantedToken(*result);
  if (failed.ok() && result->dpop_jkt != publisher_.dpop_jkt() && !result->dpop_jkt.empty()) {
    failed = absl::FailedPreconditionError(
        "the refresher returned a token bound to another DPoP key than its dpop_key()");
  }
  if (failed.ok()) {
    examined.token = *std::move(result);
  } else {
    const Snapshot now = publisher_.Latest();
    examined.failure = ExamineGrantFailure(
        failed, !examined.order.refresh_token.empty(), options_.max_refresh_attempts,
        {now->token.access_token, now->token.refresh_token, examined.order.refresh_token});
  }
  Effects fx;
  {
    MutexLock lock(&mu_);
    if (state_.shut_down()) return;
    fx = TakeEffectsLocked(state_.OnGrantDone(examined, clock_->Now(), !waiters_.empty()));
  }
  Apply(std::move(fx), &examined.failure);
}

void RefreshCoordinator::ScheduleRetry(absl::Time when) {
  std::weak_ptr<RefreshCoordinator> weak = weak_from_this();
  std::shared_ptr<Clock::Timer> timer = clock_->Schedule(when, [weak] {
    if (auto self = weak.lock()) self->OnRetryTimer();
  });
  {
    MutexLock lock(&mu_);
    if (state_.retry_scheduled() && retry_timer_ == nullptr) {
      retry_timer_ = std::move(timer);
      return;
    }
  }
  timer->Cancel();
}

void RefreshCoordinator::OnRetryTimer() {
  Effects fx;
  {
    MutexLock lock(&mu_);
    Decision d = state_.OnRetryTimer(clock_->Now());
    if (d.grant) retry_timer_.reset();  // this one
    fx = TakeEffectsLocked(std::move(d));
  }
  Apply(std::move(fx));
}

void RefreshCoordinator::Complete(std::vector<Waiter> waiters,
                                  const absl::StatusOr<Snapshot>& result) {
  for (Waiter& w : waiters) {
    if (w.deadline_timer) w.deadline_timer->Cancel();
    w.done(result);
  }
}

void RefreshCoordinator::SetToken(Token token) {
  Effects fx;
  {
    MutexLock lock(&mu_);
    fx = TakeEffectsLocked(state_.SetToken(UsableWithKey(std::move(token), publisher_.dpop_jkt()),
                                           clock_->Now(), !waiters_.empty()));
  }
  Apply(std::move(fx));
}

TokenManagerStats RefreshCoordinator::Stats() const {
  TokenManagerStats stats;
  {
    MutexLock lock(&mu_);
    stats = state_.stats();
  }
  stats.calls_replayed = calls_replayed_.load(std::memory_order_relaxed);
  return stats;
}

void RefreshCoordinator::CountReplay() {
  calls_replayed_.fetch_add(1, std::memory_order_relaxed);
  diagnostics_.CallReplayed();
}

void RefreshCoordinator::Persist(uint64_t generation, const Token& token) {
  if (options_.store != nullptr) saver_.Save(generation, token);
}

void RefreshCoordinator::SaveNow(const Token& token) {
  gate_.Run([&] {
    absl::Status s = options_.store->Save(token);
    if (!s.ok()) {
      diagnostics_.StoreFailed(s);
      if (options_.on_store_error) options_.on_store_error(s);
    }
  });
}

void RefreshCoordinator::Shutdown() {
  Effects fx;
  std::shared_ptr<TokenRefresher> refresher;
  std::unique_ptr<MetricsSink::Observation> expiry_gauge;
  {
    MutexLock lock(&mu_);
    fx = TakeEffectsLocked(state_.Shutdown());
    refresher = std::move(refresher_);
    expiry_gauge = std::move(expiry_gauge_);
  }
  expiry_gauge.reset();  // returns once no collection reads this coordinator
  // No callback runs from now on; those running finish first.
  gate_.Close();
  if (fx.cancel != nullptr) fx.cancel->Cancel();
  if (!fx.release.empty()) Complete(std::move(fx.release), fx.decision.release_status);
  refresher.reset();  // cancels a grant in flight
}

}  // namespace internal
}  // namespace authrefresh
