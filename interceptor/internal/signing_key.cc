#include "interceptor/internal/signing_key.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "interceptor/internal/token_request.h"

namespace authrefresh {
namespace internal {

absl::StatusOr<std::shared_ptr<const JwtSigner>> LoadSigningKey(const JwtSigningKey& key,
                                                                const std::string& what) {
  auto read = [&](const std::string& pem, const std::string& file, const char* pem_name,
                  const char* file_name, bool required) -> absl::StatusOr<std::string> {
    if (!pem.empty() && !file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": set ", pem_name, " or ", file_name, ", not both"));
    }
    if (!file.empty()) {
      std::optional<std::string> content = ReadSmallFile(file);
      if (!content) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ".", file_name, " cannot be read: ", ShowPath(file)));
      }
      return *std::move(content);
    }
    if (pem.empty() && required) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": no private key; set ", pem_name, " or ", file_name));
    }
    return pem;
  };
  JwsKeyMaterial material;
  material.algorithm = key.algorithm == JwtSigningKey::Algorithm::kES256 ? JwsAlgorithm::kES256
                                                                         : JwsAlgorithm::kRS256;
  material.key_id = key.key_id;
  absl::StatusOr<std::string> private_key =
      read(key.private_key_pem, key.private_key_file, "private_key_pem", "private_key_file", true);
  if (!private_key.ok()) return private_key.status();
  material.private_key_pem = *std::move(private_key);
  absl::StatusOr<std::string> certificate =
      read(key.certificate_pem, key.certificate_file, "certificate_pem", "certificate_file", false);
  if (!certificate.ok()) return certificate.status();
  material.certificate_pem = *std::move(certificate);
  return JwtSigner::Create(material, what);
}

}  // namespace internal
}  // namespace authrefresh
