#include "interceptor/internal/dpop.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace authrefresh {
namespace internal {
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

absl::string_view DpopOrigin(absl::string_view target_uri) {
  const size_t scheme_end = target_uri.find("://");
  if (scheme_end == absl::string_view::npos) return target_uri;
  return target_uri.substr(0, target_uri.find('/', scheme_end + 3));
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
