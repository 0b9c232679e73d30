#include "interceptor/internal/token_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "interceptor/internal/token_response.h"

namespace authrefresh {
namespace internal {
namespace {

constexpr absl::string_view kHeader = "authrefresh-token 2";
// What authrefresh 0.4 wrote: the store's file and the backend's record.
constexpr absl::string_view kStoreHeaderV1 = "authrefresh-token 1";
constexpr absl::string_view kRecordHeaderV1 = "authrefresh-shared 1";

std::string TimeField(absl::Time t, absl::Time none, absl::string_view none_text) {
  return t == none ? std::string(none_text) : absl::StrCat(absl::ToUnixNanos(t));
}

bool ParseTime(absl::string_view text, absl::Time none, absl::string_view none_text,
               absl::Time* out) {
  if (text == none_text) {
    *out = none;
    return true;
  }
  int64_t nanos = 0;
  if (!absl::SimpleAtoi(text, &nanos)) return false;
  *out = absl::FromUnixNanos(nanos);
  return true;
}

// A close(2) that keeps errno.
void CloseKeepingErrno(int fd) {
  const int saved = errno;
  close(fd);
  errno = saved;
}

}  // namespace

bool IsDpopThumbprint(absl::string_view jkt) {
  if (jkt.empty() || jkt.size() > 86) return false;  // SHA-512, base64url, at most
  return std::all_of(jkt.begin(), jkt.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

absl::Status ErrnoStatus(int error, absl::string_view what, absl::string_view action,
                         absl::string_view path) {
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  if (error == EACCES || error == EPERM) code = absl::StatusCode::kPermissionDenied;
  if (error == EROFS || error == ENOSPC || error == EDQUOT || error == ENOTDIR ||
      error == ELOOP) {
    code = absl::StatusCode::kFailedPrecondition;
  }
  return absl::Status(code,
                      absl::StrCat(what, ": ", action, " ", path, ": ", std::strerror(error)));
}

absl::StatusOr<std::string> SerializeTokenFile(const TokenFile& file) {
  const Token& t = file.token;
  if (t.scope.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError("the token's scope contains a line break");
  }
  return absl::StrCat(
      kHeader, "\n",
      file.generation ? absl::StrCat("generation=", *file.generation, "\n") : std::string(),
      "access_token=", t.access_token, "\nrefresh_token=", t.refresh_token,
      "\nexpires_at_unix_nanos=", TimeField(t.expires_at, absl::InfiniteFuture(), "never"),
      "\nissued_at_unix_nanos=", TimeField(t.issued_at, absl::InfinitePast(), "unknown"),
      "\nscope=", t.scope, "\n",
      t.dpop_jkt.empty() ? std::string() : absl::StrCat("dpop_jkt=", t.dpop_jkt, "\n"));
}

absl::StatusOr<TokenFile> ParseTokenFile(absl::string_view text, absl::string_view path) {
  auto corrupt = [&](absl::string_view why) {
    // Never quotes the content: it holds tokens.
    return absl::DataLossError(absl::StrCat(path, " is not a saved token: ", why));
  };
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() < 2 || !lines.back().empty()) return corrupt("unexpected layout");
  if (lines[0] != kHeader && lines[0] != kStoreHeaderV1 && lines[0] != kRecordHeaderV1) {
    return corrupt("unknown header");
  }
  absl::flat_hash_map<absl::string_view, absl::string_view> fields;
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(lines[i], absl::MaxSplits('=', 1));
    if (!fields.emplace(kv.first, kv.second).second) {
      return corrupt(absl::StrCat("a field is given twice"));
    }
  }
  TokenFile file;
  Token& t = file.token;
  for (const auto& [key, out] : {std::pair<absl::string_view, std::string*>{
                                     "access_token", &t.access_token},
                                 {"refresh_token", &t.refresh_token},
                                 {"scope", &t.scope}}) {
    auto it = fields.find(key);
    if (it == fields.end()) return corrupt(absl::StrCat("missing ", key));
    *out = std::string(it->second);
    fields.erase(it);
  }
  for (const std::string* token : {&t.access_token, &t.refresh_token}) {
    if (!token->empty() && !CheckTokenSyntax(*token, "token").ok()) {
      return corrupt("a token has bytes a token cannot have");
    }
  }
  auto expires = fields.find("expires_at_unix_nanos");
  if (expires == fields.end() ||
      !ParseTime(expires->second, absl::InfiniteFuture(), "never", &t.expires_at)) {
    return corrupt("bad or missing expires_at_unix_nanos");
  }
  fields.erase(expires);
  if (auto issued = fields.find("issued_at_unix_nanos"); issued != fields.end()) {
    if (!ParseTime(issued->second, absl::InfinitePast(), "unknown", &t.issued_at)) {
      return corrupt("bad issued_at_unix_nanos");
    }
    fields.erase(issued);
  }
  if (auto jkt = fields.find("dpop_jkt"); jkt != fields.end()) {
    if (!IsDpopThumbprint(jkt->second)) return corrupt("bad dpop_jkt");
    t.dpop_jkt = std::string(jkt->second);
    fields.erase(jkt);
  }
  if (auto generation = fields.find("generation"); generation != fields.end()) {
    uint64_t g = 0;
    if (!absl::SimpleAtoi(generation->second, &g)) return corrupt("bad generation");
    file.generation = g;
    fields.erase(generation);
  }
  if (!fields.empty()) return corrupt("unknown field");
  return file;
}

absl::StatusOr<std::optional<std::string>> ReadWholeFile(const std::string& path,
                                                         absl::string_view what) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return ErrnoStatus(errno, what, "cannot read", path);
  }
  std::string content;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = ErrnoStatus(errno, what, "cannot read", path);
      close(fd);
      return s;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return std::optional<std::string>(std::move(content));
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view data,
                                 absl::string_view what) {
  static std::atomic<uint64_t> counter{0};
  const std::string temp = absl::StrCat(path, ".tmp.", getpid(), ".", counter.fetch_add(1));
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, what, "cannot create", temp);
  auto fail = [&](absl::string_view action, const std::string& name) {
    absl::Status s = ErrnoStatus(errno, what, action, name);
    unlink(temp.c_str());
    return s;
  };
  bool ok = fchmod(fd, 0600) == 0;  // whatever the umask
  for (size_t done = 0; ok && done < data.size();) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  if (!ok) {
    CloseKeepingErrno(fd);
    return fail("cannot write", temp);
  }
  if (fsync(fd) != 0) {
    CloseKeepingErrno(fd);
    return fail("cannot sync", temp);
  }
  close(fd);
  if (rename(temp.c_str(), path.c_str()) != 0) return fail("cannot rename over", path);
  // The rename is durable once the directory is: after a power loss the file
  // must not fall back to a token whose refresh token was rotated.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoStatus(errno, what, "cannot open the directory", dir);
  const int synced = fsync(dir_fd);
  CloseKeepingErrno(dir_fd);
  if (synced != 0) return ErrnoStatus(errno, what, "cannot sync the directory", dir);
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace authrefresh
