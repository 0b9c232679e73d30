#include "interceptor/internal/call_auth.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "interceptor/internal/call_plan.h"
#include "interceptor/internal/pending_attempt.h"
#include "interceptor/internal/status_conversion.h"
#include "interceptor/internal/system_clock.h"

namespace authrefresh {
namespace internal {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;
namespace {

constexpr absl::Duration kWaitEndsBeforeDeadline = absl::Milliseconds(10);

// gRPC 1.51 reports a failed credentials plugin with this text before the
// plugin's own message.
constexpr absl::string_view kPluginFailure = "Getting metadata from plugin failed";

}  // namespace

CallAuth::CallAuth(const InterceptorConfig* config, grpc::experimental::ClientRpcInfo* info)
    : config_(config), info_(info) {
  const char* method = info->method();
  const size_t size = method == nullptr ? 0 : std::strlen(method);
  if (size <= sizeof(method_)) {
    if (size > 0) std::memcpy(method_, method, size);
    method_size_ = size;
  } else {
    long_method_.assign(method, size);
  }
}

// The ClientContext destroys its call, then its interceptors, then drops
// its channel (member order), so the config and its pools are still here,
// and the call's attempts are over.
CallAuth::~CallAuth() {
  if (slot_ != nullptr) pool_->GiveBack(slot_);
}

void CallAuth::Intercept(InterceptorBatchMethods* m) {
  if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_CANCEL)) {
    OnCancel();
    return;
  }
  if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
    OnSendInitialMetadata(m);
    return;
  }
  if (m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
    initial_metadata_ = m->GetRecvInitialMetadata();
  }
  if (m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
    OnStatus(m->GetRecvStatus(), *m->GetRecvTrailingMetadata());
  }
  m->Proceed();
}

void CallAuth::OnSendInitialMetadata(InterceptorBatchMethods* m) {
  grpc::ClientContext* ctx = info_->client_context();
  CallPlan plan =
      PlanCall(m->GetSendInitialMetadata(), {.type = info_->type(),
                                             .channel_compression = config_->default_compression,
                                             .has_call_credentials = ctx->credentials() != nullptr,
                                             .misconfigured = config_->misconfigured});
  not_replayable_ = plan.not_replayable;
  switch (plan.kind) {
    case CallPlan::Kind::kRefuse:
      Refuse(m, std::move(plan.refusal));
      return;
    case CallPlan::Kind::kOwn:
      mode_ = Mode::kOwn;  // the application's own credential, untouched
      // Credentials that add nothing, only to stop a replay that would break.
      if (not_replayable_ != nullptr) InstallCredentials(config_->no_security_credentials());
      break;
    case CallPlan::Kind::kSkip:
    case CallPlan::Kind::kToken:
      mode_ = plan.kind == CallPlan::Kind::kSkip ? Mode::kSkip : Mode::kToken;
      deadline_ = DeadlineOf(ctx->deadline());
      // gRPC itself refuses to send the token over a channel without
      // privacy and integrity, before anything goes out.
      InstallCredentials(config_->token_credentials());
      break;
  }
  m->Proceed();
}

void CallAuth::InstallCredentials(CallCredentialsPool& pool) {
  pool_ = &pool;
  slot_ = pool.Take(this);
  grpc_call_set_credentials(info_->client_context()->c_call(), slot_->credentials());
}

absl::Status CallAuth::StopReplay(int attempt) {
  const bool other_codes = config_->RetriesOtherCodes(info_->channel(), method());
  if (mode_ == Mode::kToken && attempt == 2 && !other_codes) {
    // Core replays only UNAUTHENTICATED here: the token was rejected.
    config_->coordinator->CountRejection();
    config_->coordinator->NoteRejection(last_generation_.load(std::memory_order_relaxed));
    return absl::UnauthenticatedError(
        absl::StrCat("authrefresh: the server rejected the token, and ", not_replayable_,
                     ": not replayed; the refresh has started, so the next call carries a "
                     "new token"));
  }
  const std::string why =
      absl::StrCat("authrefresh: stopped gRPC from sending this call again: ", not_replayable_);
  return other_codes && mode_ != Mode::kOwn ? absl::UnavailableError(why)
                                            : absl::UnauthenticatedError(why);
}

void CallAuth::Refuse(InterceptorBatchMethods* m, grpc::Status status) {
  mode_ = Mode::kRefused;
  refusal_ = std::move(status);
  // The call is gRPC's own (nothing hijacks it), so it ends only by being
  // cancelled; its status is replaced at POST_RECV_STATUS.
  info_->client_context()->TryCancel();
  m->Proceed();
}

int CallAuth::RunAttempt(void* call, const grpc_auth_metadata_context& context,
                         grpc_credentials_plugin_metadata_cb cb, void* user_data,
                         grpc_metadata* creds_md, size_t* num_creds_md, grpc_status_code* status,
                         const char** error_details) {
  return static_cast<CallAuth*>(call)->OnAttempt(context, cb, user_data, creds_md, num_creds_md,
                                                 status, error_details);
}

absl::StatusOr<std::shared_ptr<const DpopTarget>> CallAuth::DpopTargetOf(
    const grpc_auth_metadata_context& context) {
  if (!config_->coordinator->dpop()) return nullptr;
  CallMutexLock lock(&mu_);
  if (dpop_ == nullptr) {
    absl::StatusOr<std::shared_ptr<const DpopTarget>> made =
        MakeDpopTarget(context, &config_->dpop_nonces);
    if (!made.ok()) return made.status();
    dpop_ = *std::move(made);
  }
  return dpop_;
}

int CallAuth::OnAttempt(const grpc_auth_metadata_context& context,
                        grpc_credentials_plugin_metadata_cb cb, void* user_data,
                        grpc_metadata* creds_md, size_t* num_creds_md, grpc_status_code* status,
                        const char** error_details) {
  *num_creds_md = 0;
  *status = GRPC_STATUS_OK;
  *error_details = nullptr;
  RefreshCoordinator& coordinator = *config_->coordinator;
  Settle();
  const int attempt = attempts_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (attempt > 1 && not_replayable_ != nullptr) {
    const absl::Status stop = StopReplay(attempt);
    {
      CallMutexLock lock(&mu_);
      failure_ = stop;
      failed_attempt_ = attempt;
      skip_failure_count_ = true;
    }
    AnswerNow(stop, creds_md, num_creds_md, status, error_details);
    return 1;
  }
  if (mode_ == Mode::kOwn) return 1;  // nothing to add
  if (attempt > 1) coordinator.CountReplay();
  absl::StatusOr<std::shared_ptr<const DpopTarget>> dpop = DpopTargetOf(context);
  if (!dpop.ok()) {
    AnswerNow(dpop.status(), creds_md, num_creds_md, status, error_details);
    return 1;
  }

  if (mode_ == Mode::kSkip) {
    const TokenSnapshot& s = coordinator.Current();
    if (s.terminal.ok() && !s.authorization.empty()) {
      AttachToken(s, dpop->get(), creds_md, num_creds_md, status, error_details);
      Carried(attempt, s.generation);
    }
    return 1;
  }

  RefreshCoordinator::WaitRequest request;
  // The wait ends a little before the call's deadline (10 ms, or half the
  // time left if less), so that authrefresh's DEADLINE_EXCEEDED, which says
  // what the call waited for, comes before gRPC's bare "Deadline Exceeded".
  request.deadline = deadline_ - std::clamp((deadline_ - absl::Now()) / 2, absl::ZeroDuration(),
                                            kWaitEndsBeforeDeadline);
  // Core replays only what its retry policy names, UNAUTHENTICATED, so the
  // second attempt means the first one's token was rejected (or, rarely, a
  // transparent retry). Later attempts (an application's own policy with
  // more attempts) take whatever token is good.
  if (attempt == 2) {
    request.rejected_generation = last_generation_.load(std::memory_order_relaxed);
    request.ambiguous = config_->RetriesOtherCodes(info_->channel(), method());
    if (!request.ambiguous) coordinator.CountRejection();
  }
  if (request.rejected_generation == 0) {
    // The fast path: no lock unless the token changed.
    const TokenSnapshot& s = coordinator.Current();
    const absl::Time now = coordinator.Now();
    if (coordinator.Sendable(s, now)) {
      coordinator.RefreshIfDue(s, now);
      AttachToken(s, dpop->get(), creds_md, num_creds_md, status, error_details);
      Carried(attempt, s.generation);
      return 1;
    }
  }

  return WaitForToken(request, attempt, *std::move(dpop), cb, user_data, creds_md, num_creds_md,
                      status, error_details);
}

int CallAuth::WaitForToken(const RefreshCoordinator::WaitRequest& request, int attempt,
                           std::shared_ptr<const DpopTarget> dpop,
                           grpc_credentials_plugin_metadata_cb cb, void* user_data,
                           grpc_metadata* creds_md, size_t* num_creds_md, grpc_status_code* status,
                           const char** error_details) {
  RefreshCoordinator& coordinator = *config_->coordinator;
  auto pending = std::make_shared<PendingAttempt>(attempt, cb, user_data, dpop);
  {
    CallMutexLock lock(&mu_);
    pending_ = pending;
  }
  had_pending_.store(true, std::memory_order_release);
  RefreshCoordinator::Wait wait = coordinator.Await(
      request,
      [pending](absl::StatusOr<Snapshot> result) { pending->Complete(std::move(result)); });
  std::optional<absl::StatusOr<Snapshot>> now;
  if (wait.ready) {
    now = std::move(wait.ready);
    pending->CompleteInline(*now);
  } else {
    now = pending->Detach(wait.ticket);
    if (!now) {
      bool cancelled = false;
      {
        CallMutexLock lock(&mu_);
        cancelled = cancelled_;
      }
      // A cancellation that came before the ticket was known.
      if (!cancelled || !coordinator.CancelWait(wait.ticket)) return 0;
      now = absl::CancelledError("authrefresh: the call was cancelled");
      pending->CompleteInline(*now);
      CountCancelled();
    }
  }
  {
    CallMutexLock lock(&mu_);
    if (pending_ == pending) pending_.reset();
    if (!now->ok()) {
      failure_ = now->status();
      failed_attempt_ = attempt;
    }
  }
  if (now->ok()) Carried(attempt, (**now)->generation);
  AnswerNow(*now, creds_md, num_creds_md, status, error_details, dpop.get());
  return 1;
}

void CallAuth::Settle() {
  if (!had_pending_.load(std::memory_order_acquire)) return;
  std::shared_ptr<PendingAttempt> pending;
  {
    CallMutexLock lock(&mu_);
    pending = pending_;
  }
  if (pending == nullptr) return;
  uint64_t generation = 0;
  absl::Status failure;
  if (!pending->Ended(&generation, &failure)) return;
  {
    CallMutexLock lock(&mu_);
    if (pending_ == pending) pending_.reset();
    if (!failure.ok()) {
      failure_ = failure;
      failed_attempt_ = pending->attempt();
    }
  }
  if (generation != 0) Carried(pending->attempt(), generation);
}

void CallAuth::Carried(int attempt, uint64_t generation) {
  last_generation_.store(generation, std::memory_order_relaxed);
  if (attempt == 1) first_generation_.store(generation, std::memory_order_relaxed);
  if (attempt == 2 && generation > first_generation_.load(std::memory_order_relaxed)) {
    swapped_.store(true, std::memory_order_relaxed);
  }
}

void CallAuth::CountCancelled() {
  config_->coordinator->CountFailure(absl::StatusCode::kCancelled);
  CallMutexLock lock(&mu_);
  skip_failure_count_ = true;  // counted once, here
}

void CallAuth::OnCancel() {
  {
    CallMutexLock lock(&mu_);
    cancelled_ = true;
  }
  // A call cancelled while it waited for a refresh ends CANCELLED.
  if (AbandonPendingAttempt()) CountCancelled();
}

bool CallAuth::AbandonPendingAttempt() {
  if (!had_pending_.load(std::memory_order_acquire)) return false;
  std::shared_ptr<PendingAttempt> pending;
  {
    CallMutexLock lock(&mu_);
    pending = pending_;
  }
  if (pending == nullptr) return false;
  const uint64_t ticket = pending->WaitingTicket();
  if (ticket == 0 || !config_->coordinator->CancelWait(ticket)) return false;
  // Core's callback must still run once, and not here: this may run under
  // the ClientContext's lock (PRE_SEND_CANCEL).
  RunSoon([pending] { pending->Complete(absl::CancelledError("authrefresh: the call ended")); });
  return true;
}

void CallAuth::OnStatus(grpc::Status* status, const ServerMetadata& trailing_metadata) {
  if (mode_ == Mode::kRefused) {
    *status = refusal_;
    return;
  }
  if (mode_ == Mode::kUnset) return;
  if (config_->coordinator->dpop()) {  // bearer calls take no lock here
    std::shared_ptr<const DpopTarget> dpop;
    {
      CallMutexLock lock(&mu_);
      dpop = dpop_;
    }
    if (dpop != nullptr) KeepDpopNonce(*dpop, initial_metadata_, trailing_metadata);
  }
  Settle();
  RefreshCoordinator& coordinator = *config_->coordinator;
  const uint64_t generation = last_generation_.load(std::memory_order_relaxed);
  if (status->ok()) {
    if (generation != 0) coordinator.NoteAccepted(generation);
    return;
  }
  {
    std::optional<absl::StatusCode> replaced;  // and counted unless skipped
    {
      CallMutexLock lock(&mu_);
      if (failed_attempt_ != 0 && failed_attempt_ == attempts_.load(std::memory_order_relaxed) &&
          absl::StrContains(status->error_message(), kPluginFailure)) {
        // authrefresh's own failure (session expired, refresh failing), not
        // gRPC's wording of it.
        *status = ToGrpcStatus(failure_);
        replaced =
            skip_failure_count_ || mode_ != Mode::kToken ? absl::StatusCode::kOk : failure_.code();
      }
    }
    if (replaced) {  // counted outside the lock: the sink is the application's
      if (*replaced != absl::StatusCode::kOk) coordinator.CountFailure(*replaced);
      return;
    }
  }
  if (mode_ == Mode::kOwn) return;
  if (IsInsecureTransportRefusal(*status)) {
    *status = InsecureTransportStatus();
    return;
  }
  if (mode_ != Mode::kToken || generation == 0) return;
  if (AbandonPendingAttempt() && status->error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    // gRPC ended the call while its replay waited for the refresh: that
    // refresh did not help this call.
    coordinator.NoteReplayRejected(0);
  } else if (status->error_code() == grpc::StatusCode::UNAUTHENTICATED &&
             swapped_.load(std::memory_order_relaxed)) {
    // The replay's newer token did not help either (the server rejected it,
    // or gRPC's client failed the call itself, e.g. an authority the TLS
    // certificate does not cover): loop protection for that token.
    coordinator.NoteReplayRejected(generation);
  }
  if (IsClientGenerated(*status)) return;
  static const ServerMetadata* const kNone = new ServerMetadata();
  const ServerAnswer answer{*status, initial_metadata_ != nullptr ? *initial_metadata_ : *kNone,
                            trailing_metadata};
  if (config_->IsRejection(answer)) {
    coordinator.CountRejection();
    coordinator.NoteRejection(generation);
  }
}

}  // namespace internal
}  // namespace authrefresh
