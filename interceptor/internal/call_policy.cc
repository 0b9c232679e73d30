#include "interceptor/internal/call_policy.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"

namespace authrefresh {
namespace internal {
namespace {

constexpr absl::string_view kTokenService = "/authrefresh.v1.TokenService/";

// gRPC 1.51's own UNAUTHENTICATED messages (src/core/lib/security).
constexpr absl::string_view kInsecureChannelMessage =
    "Established channel does not have a sufficient security level to "
    "transfer call credential.";
constexpr absl::string_view kHostMismatchMessage =
    "call host does not match SSL server name";

std::string Normalized(absl::string_view entry) {
  return absl::StartsWith(entry, "/") ? std::string(entry)
                                      : absl::StrCat("/", entry);
}

}  // namespace

MethodPolicy::MethodPolicy(const std::vector<std::string>& excluded) {
  services_.insert(std::string(kTokenService));
  only_token_service_ = excluded.empty();
  for (const std::string& entry : excluded) {
    std::string name = Normalized(entry);
    if (absl::EndsWith(name, "/*")) {
      name.pop_back();
      services_.insert(std::move(name));
    } else {
      methods_.insert(std::move(name));
    }
  }
}

bool MethodPolicy::Excluded(const char* method_name) const {
  if (method_name == nullptr) return true;
  if (only_token_service_) {
    return std::strncmp(method_name, kTokenService.data(), kTokenService.size()) == 0;
  }
  const absl::string_view method(method_name);
  if (methods_.contains(method)) return true;
  // "/package.Service/Method": the service runs to the second slash, however
  // malformed the rest is.
  const size_t slash = method.find('/', 1);
  return slash != absl::string_view::npos &&
         services_.contains(method.substr(0, slash + 1));
}

std::vector<MethodPolicy::ConfigName> MethodPolicy::ConfigNames() const {
  std::vector<ConfigName> names;
  auto valid = [](absl::string_view part) {
    return !part.empty() && part.find('/') == absl::string_view::npos &&
           part.find('*') == absl::string_view::npos;
  };
  for (const std::string& service : services_) {  // "/package.Service/"
    if (service == kTokenService) continue;
    absl::string_view s(service);
    s.remove_prefix(1);
    s.remove_suffix(1);
    if (valid(s)) names.push_back({std::string(s), ""});
  }
  for (const std::string& method : methods_) {  // "/package.Service/Method"
    const size_t slash = method.find('/', 1);
    if (slash == std::string::npos) continue;
    absl::string_view s = absl::string_view(method).substr(1, slash - 1);
    absl::string_view m = absl::string_view(method).substr(slash + 1);
    if (valid(s) && valid(m)) names.push_back({std::string(s), std::string(m)});
  }
  // A stable order, so that the same options give the same service config.
  std::sort(names.begin(), names.end(), [](const ConfigName& a, const ConfigName& b) {
    return std::tie(a.service, a.method) < std::tie(b.service, b.method);
  });
  return names;
}

std::string BearerChallengeError(absl::string_view challenge) {
  challenge = absl::StripAsciiWhitespace(challenge);
  if (absl::StartsWithIgnoreCase(challenge, "Bearer")) {
    challenge.remove_prefix(6);
  } else if (absl::StartsWithIgnoreCase(challenge, "DPoP")) {
    challenge.remove_prefix(4);
  } else {
    return "";
  }
  if (!challenge.empty() && challenge.front() != ' ' && challenge.front() != '\t') return "";
  // auth-params: name=value or name="value", separated by commas.
  for (absl::string_view param : absl::StrSplit(challenge, ',')) {
    param = absl::StripAsciiWhitespace(param);
    const size_t eq = param.find('=');
    if (eq == absl::string_view::npos) continue;
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(param.substr(0, eq)),
                                "error")) {
      continue;
    }
    absl::string_view value = absl::StripAsciiWhitespace(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return std::string(value);
  }
  return "";
}

bool IsClientGenerated(const grpc::Status& status) {
  const std::string& m = status.error_message();
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
         (m == kInsecureChannelMessage || absl::StartsWith(m, kHostMismatchMessage));
}

bool IsServerRejection(const ServerAnswer& answer) {
  if (answer.status.error_code() != grpc::StatusCode::UNAUTHENTICATED) return false;
  if (IsClientGenerated(answer.status)) return false;
  for (const ServerMetadata* metadata :
       {&answer.initial_metadata, &answer.trailing_metadata}) {
    auto [begin, end] = metadata->equal_range("www-authenticate");
    for (auto it = begin; it != end; ++it) {
      const std::string error =
          BearerChallengeError(absl::string_view(it->second.data(), it->second.size()));
      // A new token with the same scope, or for the same proof, would not help.
      if (error == "insufficient_scope" || error == "use_dpop_nonce" ||
          error == "invalid_dpop_proof") {
        return false;
      }
    }
  }
  return true;
}

bool IsInsecureTransportRefusal(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
         status.error_message() == kInsecureChannelMessage;
}

grpc::Status InsecureTransportStatus() {
  return grpc::Status(
      grpc::StatusCode::UNAUTHENTICATED,
      "authrefresh: refusing to send a bearer token over a channel without "
      "transport security; use TLS channel credentials, or set "
      "InterceptorOptions::allow_insecure_transport (e.g. for loopback tests)");
}

}  // namespace internal
}  // namespace authrefresh
