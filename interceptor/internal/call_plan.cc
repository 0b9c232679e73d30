#include "interceptor/internal/call_plan.h"

#include "interceptor/internal/call_policy.h"
#include "interceptor/internal/status_conversion.h"

namespace authrefresh {
namespace internal {
namespace {

constexpr char kAuthorization[] = "authorization";

CallPlan Refuse(grpc::Status status) {
  CallPlan plan;
  plan.kind = CallPlan::Kind::kRefuse;
  plan.refusal = std::move(status);
  return plan;
}

}  // namespace

CallPlan PlanCall(std::multimap<std::string, std::string>* metadata, const CallFacts& facts) {
  // Most calls send no metadata of their own: nothing to look up.
  const bool skip = !metadata->empty() && metadata->erase(kSkipRefreshKey) > 0;
  if (!facts.misconfigured.ok()) return Refuse(ToGrpcStatus(facts.misconfigured));
  CallPlan plan;
  auto requested = metadata->empty() ? metadata->end()
                                     : metadata->find(GRPC_COMPRESSION_REQUEST_ALGORITHM_MD_KEY);
  const bool compressed = requested != metadata->end()
                              ? requested->second != "identity"
                              : facts.channel_compression != GRPC_COMPRESS_NONE;
  using Type = grpc::experimental::ClientRpcInfo::Type;
  if (compressed) {
    plan.not_replayable =
        "this call is compressed, and gRPC corrupts a compressed message that "
        "it sends again (grpc/grpc#37742)";
  } else if (facts.type != Type::UNARY && facts.type != Type::SERVER_STREAMING) {
    plan.not_replayable =
        "this is a client-streaming or bidi call, which gRPC 1.51 can send "
        "again with requests missing";
  }
  if (!metadata->empty() && metadata->count(kAuthorization) > 0) {
    plan.kind = CallPlan::Kind::kOwn;
    return plan;
  }
  if (facts.has_call_credentials) {
    return Refuse(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                               "authrefresh: this call sets its own call credentials "
                               "(ClientContext::set_credentials), which gRPC cannot combine "
                               "with authrefresh's token; compose them into the channel's "
                               "credentials (grpc::CompositeChannelCredentials), or exclude "
                               "the method (InterceptorOptions::excluded_methods)"));
  }
  plan.kind = skip ? CallPlan::Kind::kSkip : CallPlan::Kind::kToken;
  return plan;
}

}  // namespace internal
}  // namespace authrefresh
