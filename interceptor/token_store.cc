#include "interceptor/token_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "interceptor/internal/token_response.h"

namespace authrefresh {
namespace {

constexpr absl::string_view kHeader = "authrefresh-token 1";

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

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat("token store: ", what, " ", path, ": ", std::strerror(errno)));
}

// One "key=value" line per field; tokens are visible ASCII, so a line holds
// exactly one value.
std::string Serialize(const Token& t) {
  return absl::StrCat(
      kHeader, "\naccess_token=", t.access_token,
      "\nrefresh_token=", t.refresh_token, "\nexpires_at_unix_nanos=",
      t.expires_at == absl::InfiniteFuture() ? std::string("never")
                                             : absl::StrCat(absl::ToUnixNanos(t.expires_at)),
      "\nscope=", t.scope, "\n");
}

absl::StatusOr<Token> Parse(absl::string_view text, const std::string& path) {
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat("token store: ", path, " is not a saved token: ", why));
  };
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() != 6 || lines[0] != kHeader || !lines[5].empty()) {
    return corrupt("unexpected layout");
  }
  Token t;
  const char* keys[] = {"access_token=", "refresh_token=",
                        "expires_at_unix_nanos=", "scope="};
  std::string values[4];
  for (int i = 0; i < 4; ++i) {
    if (!absl::ConsumePrefix(&lines[i + 1], keys[i])) {
      return corrupt(absl::StrCat("missing ", keys[i]));
    }
    values[i] = std::string(lines[i + 1]);
  }
  t.access_token = values[0];
  t.refresh_token = values[1];
  for (const std::string* token : {&t.access_token, &t.refresh_token}) {
    if (!token->empty() && !internal::CheckTokenSyntax(*token, "token").ok()) {
      return corrupt("a token has bytes a token cannot have");
    }
  }
  if (values[2] != "never") {
    int64_t nanos = 0;
    if (!absl::SimpleAtoi(values[2], &nanos)) return corrupt("bad expires_at");
    t.expires_at = absl::FromUnixNanos(nanos);
  }
  t.scope = values[3];
  return t;
}

class FileTokenStore final : public TokenStore {
 public:
  explicit FileTokenStore(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<std::optional<Token>> Load() override {
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
      if (errno == ENOENT) return std::optional<Token>();
      return Errno("cannot read", path_);
    }
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<Token> token = Parse(text.str(), path_);
    if (!token.ok()) return token.status();
    return std::optional<Token>(*std::move(token));
  }

  absl::Status Save(const Token& token) override {
    if (token.scope.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError("token store: scope contains a line break");
    }
    const std::string data = Serialize(token);
    const std::string tmp =
        absl::StrCat(path_, ".tmp.", getpid(), ".", counter_.fetch_add(1));
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("cannot create", tmp);
    bool ok = fchmod(fd, 0600) == 0;  // whatever the umask
    for (size_t done = 0; ok && done < data.size();) {
      const ssize_t n = write(fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      ok = n > 0;
      if (ok) done += static_cast<size_t>(n);
    }
    ok = ok && fsync(fd) == 0;
    const int saved_errno = errno;
    close(fd);
    if (!ok || rename(tmp.c_str(), path_.c_str()) != 0) {
      if (!ok) errno = saved_errno;  // else rename's errno stands
      absl::Status s = Errno("cannot write", path_);
      unlink(tmp.c_str());
      return s;
    }
    // Make the rename itself durable.
    const std::string dir = path_.rfind('/') == std::string::npos
                                ? std::string(".")
                                : path_.substr(0, path_.rfind('/') + 1);
    const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace

std::shared_ptr<TokenStore> MakeInMemoryTokenStore() {
  return std::make_shared<InMemoryTokenStore>();
}

std::shared_ptr<TokenStore> MakeFileTokenStore(std::string path) {
  return std::make_shared<FileTokenStore>(std::move(path));
}

}  // namespace authrefresh
