#include "interceptor/dpop.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "interceptor/internal/jws.h"
#include "interceptor/internal/small_file.h"

namespace authrefresh {
namespace {

using internal::JwsAlgorithm;
using internal::JwsPrivateKey;

JwsAlgorithm ToJws(DpopKey::Algorithm algorithm) {
  switch (algorithm) {
    case DpopKey::Algorithm::kEdDSA:
      return JwsAlgorithm::kEdDSA;
    case DpopKey::Algorithm::kRS256:
      return JwsAlgorithm::kRS256;
    case DpopKey::Algorithm::kPS256:
      return JwsAlgorithm::kPS256;
    case DpopKey::Algorithm::kES256:
      break;
  }
  return JwsAlgorithm::kES256;
}

std::string EncodedHeader(const JwsPrivateKey& key) {
  internal::JsonObject header;
  header.Add("typ", "dpop+jwt").Add("alg", internal::JwsAlgorithmName(key.algorithm()));
  header.AddJson("jwk", key.public_jwk());
  return absl::StrCat(internal::Base64Url(header.Close()), ".");
}

}  // namespace

const char* DpopKey::AlgorithmName(Algorithm algorithm) {
  return internal::JwsAlgorithmName(ToJws(algorithm));
}

DpopKey::DpopKey(std::unique_ptr<const JwsPrivateKey> key, Algorithm algorithm)
    : key_(std::move(key)),
      algorithm_(algorithm),
      public_jwk_(key_->public_jwk()),
      thumbprint_(internal::Sha256Base64Url(public_jwk_)),
      encoded_header_(EncodedHeader(*key_)) {}

DpopKey::~DpopKey() = default;

absl::StatusOr<std::shared_ptr<const DpopKey>> DpopKey::FromPem(absl::string_view pem,
                                                                Algorithm algorithm) {
  absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> key =
      JwsPrivateKey::FromPem(pem, ToJws(algorithm), "DPoP key");
  if (!key.ok()) return key.status();
  return std::shared_ptr<const DpopKey>(new DpopKey(*std::move(key), algorithm));
}

absl::StatusOr<std::shared_ptr<const DpopKey>> DpopKey::FromFile(const std::string& path,
                                                                 Algorithm algorithm) {
  std::optional<std::string> pem = internal::ReadSmallFile(path);
  if (!pem) {
    return absl::InvalidArgumentError(
        absl::StrCat("DPoP key file cannot be read (missing, unreadable or over 64 KiB): ",
                     internal::ShowPath(path)));
  }
  absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> key = JwsPrivateKey::FromPem(
      *pem, ToJws(algorithm), absl::StrCat("DPoP key file ", internal::ShowPath(path)));
  if (!key.ok()) return key.status();
  return std::shared_ptr<const DpopKey>(new DpopKey(*std::move(key), algorithm));
}

absl::StatusOr<std::shared_ptr<const DpopKey>> DpopKey::Generate(Algorithm algorithm) {
  absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> key =
      JwsPrivateKey::Generate(ToJws(algorithm));
  if (!key.ok()) return key.status();
  return std::shared_ptr<const DpopKey>(new DpopKey(*std::move(key), algorithm));
}

absl::StatusOr<std::string> DpopKey::Proof(const Claims& claims) const {
  internal::JsonObject body;
  body.Add("jti", internal::NewJwtId())
      .Add("htm", claims.method)
      .Add("htu", claims.uri)
      .Add("iat", absl::ToUnixSeconds(claims.issued_at));
  if (!claims.nonce.empty()) body.Add("nonce", claims.nonce);
  if (!claims.access_token_hash.empty()) {
    body.Add("ath", claims.access_token_hash);
  } else if (!claims.access_token.empty()) {
    body.Add("ath", internal::Sha256Base64Url(claims.access_token));
  }
  std::string proof = absl::StrCat(encoded_header_, internal::Base64Url(body.Close()));
  absl::StatusOr<std::string> signature = key_->Sign(proof);
  if (!signature.ok()) return signature.status();
  absl::StrAppend(&proof, ".", internal::Base64Url(*signature));
  return proof;
}

}  // namespace authrefresh
