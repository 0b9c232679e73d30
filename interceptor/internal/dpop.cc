#include "interceptor/internal/dpop.h"

#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "interceptor/internal/token_request.h"

namespace authrefresh {
namespace internal {
namespace {

std::string EncodedHeader(const JwsPrivateKey& key) {
  JsonObject header;
  header.Add("typ", "dpop+jwt").Add("alg", JwsAlgorithmName(key.algorithm()));
  header.AddJson("jwk", key.public_jwk());
  return absl::StrCat(Base64Url(header.Close()), ".");
}

}  // namespace

DpopKey::DpopKey(std::unique_ptr<const JwsPrivateKey> key)
    : key_(std::move(key)),
      thumbprint_(Sha256Base64Url(key_->public_jwk())),
      encoded_header_(EncodedHeader(*key_)) {}

absl::StatusOr<std::shared_ptr<const DpopKey>> DpopKey::FromPem(absl::string_view pem,
                                                                JwsAlgorithm algorithm,
                                                                absl::string_view what) {
  absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> key =
      JwsPrivateKey::FromPem(pem, algorithm, what);
  if (!key.ok()) return key.status();
  return std::shared_ptr<const DpopKey>(new DpopKey(*std::move(key)));
}

absl::StatusOr<std::shared_ptr<const DpopKey>> DpopKey::FromFile(const std::string& path,
                                                                 JwsAlgorithm algorithm,
                                                                 absl::string_view what) {
  std::optional<std::string> pem = ReadSmallFile(path);
  if (!pem) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the key file cannot be read: ", ShowPath(path)));
  }
  return FromPem(*pem, algorithm, what);
}

absl::StatusOr<std::shared_ptr<const DpopKey>> DpopKey::Generate(JwsAlgorithm algorithm) {
  absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> key = JwsPrivateKey::Generate(algorithm);
  if (!key.ok()) return key.status();
  return std::shared_ptr<const DpopKey>(new DpopKey(*std::move(key)));
}

absl::StatusOr<std::string> DpopKey::Proof(const DpopClaims& claims) const {
  JsonObject body;
  body.Add("jti", NewJwtId())
      .Add("htm", claims.method)
      .Add("htu", claims.uri)
      .Add("iat", absl::ToUnixSeconds(claims.issued_at));
  if (!claims.nonce.empty()) body.Add("nonce", claims.nonce);
  if (!claims.access_token.empty()) body.Add("ath", Sha256Base64Url(claims.access_token));
  std::string proof = absl::StrCat(encoded_header_, Base64Url(body.Close()));
  absl::StatusOr<std::string> signature = key_->Sign(proof);
  if (!signature.ok()) return signature.status();
  absl::StrAppend(&proof, ".", Base64Url(*signature));
  return proof;
}

absl::StatusOr<std::string> DpopTargetUri(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  const std::string scheme =
      absl::AsciiStrToLower(url.substr(0, scheme_end == absl::string_view::npos ? 0 : scheme_end));
  if (scheme != "https" && scheme != "http") {
    return absl::InvalidArgumentError("a DPoP target must be an absolute http:// or https:// URL");
  }
  absl::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  const size_t path_at = rest.find('/');
  const absl::string_view authority = rest.substr(0, path_at);
  if (authority.empty()) {
    return absl::InvalidArgumentError("a DPoP target URL has no host");
  }
  const absl::string_view path =
      path_at == absl::string_view::npos ? absl::string_view("/") : rest.substr(path_at);
  return absl::StrCat(scheme, "://", absl::AsciiStrToLower(authority), path);
}

absl::StatusOr<std::string> DpopCallUri(absl::string_view service_url,
                                        absl::string_view method_name) {
  if (method_name.empty() || absl::StrContains(method_name, "/")) {
    return absl::InvalidArgumentError("a gRPC method name is one path segment");
  }
  absl::StatusOr<std::string> service = DpopTargetUri(service_url);
  if (!service.ok()) return service.status();
  if (service->back() != '/') service->push_back('/');
  return absl::StrCat(*service, method_name);
}

bool IsValidDpopNonce(absl::string_view nonce) {
  if (nonce.empty() || nonce.size() > kMaxDpopNonceBytes) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

std::string DpopNonceCache::Get(absl::string_view origin) const {
  MutexLock lock(&mu_);
  auto it = nonces_.find(origin);
  return it == nonces_.end() ? std::string() : it->second;
}

bool DpopNonceCache::Update(absl::string_view origin, absl::string_view nonce) {
  if (!IsValidDpopNonce(nonce)) return false;
  MutexLock lock(&mu_);
  auto it = nonces_.find(origin);
  if (it != nonces_.end()) {
    if (it->second == nonce) return false;
    it->second = std::string(nonce);
    return true;
  }
  if (nonces_.size() >= kMaxOrigins) nonces_.erase(nonces_.begin());
  nonces_.emplace(std::string(origin), std::string(nonce));
  return true;
}

}  // namespace internal
}  // namespace authrefresh
