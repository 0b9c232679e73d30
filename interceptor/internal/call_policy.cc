#include "interceptor/internal/call_policy.h"

#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/descriptor.h"

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

bool MethodPolicy::Excluded(absl::string_view method) const {
  if (methods_.contains(method)) return true;
  // "/package.Service/Method": the service runs to the second slash, however
  // malformed the rest is.
  const size_t slash = method.find('/', 1);
  return slash != absl::string_view::npos &&
         services_.contains(method.substr(0, slash + 1));
}

CallHandling MethodPolicy::Classify(
    const char* method, grpc::experimental::ClientRpcInfo::Type type) const {
  if (method == nullptr || Excluded(method)) return CallHandling::kPassThrough;
  using Type = grpc::experimental::ClientRpcInfo::Type;
  if (type == Type::UNARY && IsProtobufMethod(method)) {
    return CallHandling::kReplay;
  }
  if (type == Type::SERVER_STREAMING && IsProtobufMethod(method)) {
    return CallHandling::kReplayStream;
  }
  return CallHandling::kAttach;
}

bool IsProtobufMethod(const char* method) {
  // Generated stubs pass static method names, so the pointer is a good key;
  // the stored copy guards against a GenericStub's string being reused.
  struct Entry {
    std::string name;
    bool is_protobuf;
  };
  static thread_local absl::flat_hash_map<const char*, Entry> cache;
  auto it = cache.find(method);
  if (it != cache.end() && it->second.name == method) {
    return it->second.is_protobuf;
  }
  // "/package.Service/Method" -> "package.Service.Method"
  absl::string_view full(method);
  if (absl::StartsWith(full, "/")) full.remove_prefix(1);
  const std::string dotted = absl::StrReplaceAll(full, {{"/", "."}});
  const bool found =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          dotted) != nullptr;
  if (cache.size() > 4096) cache.clear();  // bound GenericStub churn
  cache[method] = Entry{method, found};
  return found;
}

std::string BearerChallengeError(absl::string_view challenge) {
  challenge = absl::StripAsciiWhitespace(challenge);
  if (!absl::StartsWithIgnoreCase(challenge, "Bearer")) return "";
  challenge.remove_prefix(6);
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

bool IsServerRejection(const grpc::Status& status,
                       const ServerMetadata& trailing_metadata) {
  if (status.error_code() != grpc::StatusCode::UNAUTHENTICATED) return false;
  if (IsClientGenerated(status)) return false;
  auto [begin, end] = trailing_metadata.equal_range("www-authenticate");
  for (auto it = begin; it != end; ++it) {
    if (BearerChallengeError(absl::string_view(it->second.data(),
                                               it->second.size())) ==
        "insufficient_scope") {
      return false;
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
      grpc::StatusCode::FAILED_PRECONDITION,
      "authrefresh: refusing to send a bearer token over a channel without "
      "transport security; use TLS channel credentials, or set "
      "InterceptorOptions::allow_insecure_transport (e.g. for loopback tests)");
}

}  // namespace internal
}  // namespace authrefresh
