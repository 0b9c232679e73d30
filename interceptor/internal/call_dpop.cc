#include "interceptor/internal/call_dpop.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "interceptor/dpop.h"

namespace authrefresh {
namespace internal {

absl::StatusOr<std::shared_ptr<const DpopTarget>> MakeDpopTarget(
    const grpc_auth_metadata_context& context, DpopNonceCache* nonces) {
  absl::StatusOr<std::string> htu =
      DpopCallUri(context.service_url != nullptr ? context.service_url : "",
                  context.method_name != nullptr ? context.method_name : "");
  if (!htu.ok()) {
    return absl::InternalError(
        absl::StrCat("authrefresh: no DPoP target for this call (gRPC's service URL and method): ",
                     htu.status().message()));
  }
  auto target = std::make_shared<DpopTarget>();
  target->origin = std::string(DpopOrigin(*htu));
  target->htu = *std::move(htu);
  target->nonces = nonces;
  return target;
}

absl::StatusOr<std::string> CallProof(const TokenSnapshot& s, const DpopTarget& target) {
  const std::string nonce = target.nonces->Get(target.origin);
  absl::StatusOr<std::string> proof = s.dpop_key->Proof({.method = "POST",
                                                         .uri = target.htu,
                                                         .issued_at = absl::Now(),
                                                         .nonce = nonce,
                                                         .access_token_hash = s.dpop_ath});
  if (!proof.ok()) {
    return absl::InternalError(
        absl::StrCat("authrefresh: cannot make the call's DPoP proof: ", proof.status().message()));
  }
  return proof;
}

void KeepDpopNonce(const DpopTarget& target, const ServerMetadata* initial,
                   const ServerMetadata& trailing) {
  for (const ServerMetadata* metadata : {initial, &trailing}) {
    if (metadata == nullptr) continue;
    auto it = metadata->find("dpop-nonce");
    if (it != metadata->end()) {
      target.nonces->Update(target.origin, absl::string_view(it->second.data(), it->second.size()));
    }
  }
}

}  // namespace internal
}  // namespace authrefresh
