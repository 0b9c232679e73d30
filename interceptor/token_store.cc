#include "interceptor/token_store.h"

#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "interceptor/internal/token_file.h"

namespace authrefresh {
namespace {

constexpr absl::string_view kWhat = "token store";

class InMemoryTokenStore final : public TokenStore {
 public:
  absl::StatusOr<std::optional<Token>> Load() override {
    std::lock_guard<std::mutex> lock(mu_);
    return token_;
  }
  absl::Status Save(const Token& token) override {
    std::lock_guard<std::mutex> lock(mu_);
    token_ = token;
    return absl::OkStatus();
  }

 private:
  std::mutex mu_;
  std::optional<Token> token_;  // guarded by mu_
};

class FileTokenStore final : public TokenStore {
 public:
  explicit FileTokenStore(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<std::optional<Token>> Load() override {
    absl::StatusOr<std::optional<std::string>> text = internal::ReadWholeFile(path_, kWhat);
    if (!text.ok()) return text.status();
    if (!text->has_value()) return std::optional<Token>();
    absl::StatusOr<internal::TokenFile> file =
        internal::ParseTokenFile(**text, absl::StrCat(kWhat, ": ", path_));
    if (!file.ok()) return file.status();
    return std::optional<Token>(std::move(file->token));
  }

  absl::Status Save(const Token& token) override {
    absl::StatusOr<std::string> text = internal::SerializeTokenFile({std::nullopt, token});
    if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(kWhat, ": ", text.status().message()));
    return internal::WriteFileAtomically(path_, *text, kWhat);
  }

 private:
  const std::string path_;
};

}  // namespace

std::shared_ptr<TokenStore> MakeInMemoryTokenStore() {
  return std::make_shared<InMemoryTokenStore>();
}

std::shared_ptr<TokenStore> MakeFileTokenStore(std::string path) {
  return std::make_shared<FileTokenStore>(std::move(path));
}

}  // namespace authrefresh
