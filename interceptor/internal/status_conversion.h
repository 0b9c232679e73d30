// interceptor/internal/status_conversion.h
//
// The one place where absl::Status and grpc::Status are converted
// (pending_attempt.cc turns absl codes into core's grpc_status_code itself).

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_STATUS_CONVERSION_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_STATUS_CONVERSION_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace authrefresh {
namespace internal {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

inline absl::Status ToAbslStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_STATUS_CONVERSION_H_
