#include "interceptor/internal/captured_call.h"

#include "grpcpp/impl/codegen/proto_utils.h"
#include "interceptor/internal/status_conversion.h"

namespace authrefresh {
namespace internal {

using grpc::experimental::InterceptionHookPoints;

Metadata CopyMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& from) {
  Metadata out;
  out.reserve(from.size());
  for (const auto& [k, v] : from) {
    out.emplace_back(std::string(k.data(), k.size()),
                     std::string(v.data(), v.size()));
  }
  return out;
}

void FillMetadata(const Metadata& from,
                  std::multimap<grpc::string_ref, grpc::string_ref>* map) {
  for (const auto& [k, v] : from) map->emplace(k, v);
}

Receiver Receiver::Of(grpc::experimental::InterceptorBatchMethods* m) {
  return Receiver{
      m,
      m->QueryInterceptionHookPoint(
          InterceptionHookPoints::PRE_RECV_INITIAL_METADATA),
      m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_RECV_MESSAGE),
      m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_RECV_STATUS)};
}

bool ParseResponse(grpc::experimental::InterceptorBatchMethods* m,
                   grpc::ByteBuffer* bytes) {
  auto* message = static_cast<grpc::protobuf::MessageLite*>(m->GetRecvMessage());
  return grpc::SerializationTraits<grpc::protobuf::MessageLite>::Deserialize(
             bytes, message)
      .ok();
}

void CapturedCall::Capture(grpc::experimental::ClientRpcInfo* info,
                           grpc::experimental::InterceptorBatchMethods* m) {
  method = info->method();
  channel = std::shared_ptr<grpc::ChannelInterface>(m->GetInterceptedChannel());
  request.Swap(m->GetSerializedSendMessage());
  std::multimap<std::string, std::string>* sent = m->GetSendInitialMetadata();
  metadata.reserve(sent->size());
  for (auto& [key, value] : *sent) {
    if (key != "authorization") metadata.emplace_back(key, std::move(value));
  }
  grpc::ClientContext* ctx = info->client_context();
  deadline = ctx->deadline();
  credentials = ctx->credentials();
  compression = ctx->compression_algorithm();
}

void CapturedCall::Prepare(grpc::ClientContext* attempt,
                           const std::string& authorization,
                           TransportPolicy transport) const {
  attempt->set_deadline(deadline);
  for (const auto& [key, value] : metadata) attempt->AddMetadata(key, value);
  attempt->AddMetadata("authorization", authorization);
  if (transport == TransportPolicy::kGate) {
    attempt->set_credentials(WithSecurityGate(credentials));
  } else if (credentials != nullptr) {
    attempt->set_credentials(credentials);
  }
  attempt->set_compression_algorithm(compression);
}

FirstStep DecideFirstStep(const InterceptorConfig& config) {
  if (config.transport == TransportPolicy::kRefuse) {
    return FirstStep{FirstStep::kEnd, InsecureTransportStatus()};
  }
  RefreshCoordinator& coordinator = *config.coordinator;
  const TokenSnapshot& current = coordinator.Current();
  if (!current.session_expired.ok()) {
    return FirstStep{FirstStep::kEnd, ToGrpcStatus(current.session_expired)};
  }
  if (coordinator.Sendable(current)) {
    return FirstStep{FirstStep::kSend, grpc::Status::OK, &current};
  }
  return FirstStep{FirstStep::kWait};
}

bool TokenWait::Start(RefreshCoordinator& coordinator,
                      uint64_t rejected_generation, absl::Time deadline,
                      Done done) {
  bool cancelled_before;
  {
    CallMutexLock lock(&mu_);
    cancelled_before = cancelled_;
    waiting_ = !cancelled_;
    ticket_ = 0;
  }
  const absl::Status cancelled = absl::CancelledError("Cancelled");
  if (cancelled_before) {
    done(cancelled);
    return true;
  }
  RefreshCoordinator::Wait wait = coordinator.Await(
      rejected_generation, deadline,
      [this, done](absl::StatusOr<RefreshCoordinator::Snapshot> token) {
        if (Take()) done(token);
      });
  if (wait.declined) {
    CallMutexLock lock(&mu_);
    waiting_ = false;
    return false;
  }
  if (wait.ready) {
    if (Take()) done(*wait.ready);
    return true;
  }
  bool cancel_now;
  {
    CallMutexLock lock(&mu_);
    if (!waiting_) return true;  // the callback already ran
    ticket_ = wait.ticket;
    cancel_now = cancelled_;
  }
  // A Cancel() that came while the wait was being registered.
  if (cancel_now && coordinator.CancelWait(wait.ticket) && Take()) {
    done(cancelled);
  }
  return true;
}

bool TokenWait::Cancel(RefreshCoordinator& coordinator) {
  uint64_t ticket;
  {
    CallMutexLock lock(&mu_);
    cancelled_ = true;
    if (!waiting_ || ticket_ == 0) return false;  // Start sees cancelled_
    ticket = ticket_;
  }
  if (!coordinator.CancelWait(ticket)) return false;  // `done` is running
  return Take();
}

bool TokenWait::Take() {
  CallMutexLock lock(&mu_);
  if (!waiting_) return false;
  waiting_ = false;
  ticket_ = 0;
  return true;
}

}  // namespace internal
}  // namespace authrefresh
