// interceptor/internal/call_plan.h
//
// Defines `PlanCall`: how authrefresh handles one call, decided from what
// the call sends before anything goes out. A pure function of the call's
// metadata, shape and settings, so that every rule has a unit test
// (tests/call_plan_test.cc); CallAuth applies the plan.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_PLAN_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_PLAN_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "grpc/compression.h"
#include "grpcpp/support/client_interceptor.h"
#include "grpcpp/support/status.h"

namespace authrefresh {
namespace internal {

struct CallPlan {
  enum class Kind {
    kToken,   // authrefresh's token, waits and replays
    kSkip,    // SkipTokenRefresh(): the current token, never a wait
    kOwn,     // the application's own authorization: left alone
    kRefuse,  // fails before anything is sent, with `refusal`
  };
  Kind kind = Kind::kToken;
  // Why gRPC must not send this call again, if it must not (null: it may):
  // gRPC 1.51 corrupts a compressed message its retry sends again
  // (grpc/grpc#37742), and can send a client-streaming or bidi call again
  // with requests missing or without its half-close.
  const char* not_replayable = nullptr;
  grpc::Status refusal;
};

struct CallFacts {
  grpc::experimental::ClientRpcInfo::Type type = grpc::experimental::ClientRpcInfo::Type::UNARY;
  // The channel's default compression (GRPC_COMPRESS_NONE: none); a call's
  // own request (GRPC_COMPRESSION_REQUEST_ALGORITHM_MD_KEY) overrides it.
  grpc_compression_algorithm channel_compression = GRPC_COMPRESS_NONE;
  // ClientContext::set_credentials was called.
  bool has_call_credentials = false;
  // InterceptorConfig::misconfigured: not OK refuses every call.
  absl::Status misconfigured;
};

// The plan for a call whose initial metadata is `*metadata`. The
// SkipTokenRefresh() mark (kSkipRefreshKey) is erased from it: it is
// authrefresh's, never sent.
CallPlan PlanCall(std::multimap<std::string, std::string>* metadata, const CallFacts& facts);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_PLAN_H_
