// interceptor/internal/transport_security.h
//
// How authrefresh keeps bearer tokens off channels without transport security.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_TRANSPORT_SECURITY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_TRANSPORT_SECURITY_H_

#include <memory>

#include "grpcpp/security/credentials.h"

namespace authrefresh {
namespace internal {

enum class TransportPolicy {
  kTrusted,  // secure credentials seen, or the user allowed cleartext
  kGate,     // unknown: each call carries SecurityGate()
  kRefuse,   // insecure credentials seen: calls fail, nothing is sent
};

// True for credentials that cannot carry call credentials (gRPC 1.51 keeps
// `IsInsecure()` private; composing with call credentials fails exactly for
// insecure channel credentials).
bool IsInsecure(const std::shared_ptr<grpc::ChannelCredentials>& credentials);

// Call credentials that add nothing but make gRPC's client refuse the call
// (UNAUTHENTICATED, before anything is sent) unless the channel has privacy
// and integrity. Non-blocking; one shared instance.
std::shared_ptr<grpc::CallCredentials> SecurityGate();

// `app` composed with SecurityGate() (or the gate alone when `app` is null).
std::shared_ptr<grpc::CallCredentials> WithSecurityGate(
    const std::shared_ptr<grpc::CallCredentials>& app);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_TRANSPORT_SECURITY_H_
