// interceptor/internal/token_file.h
//
// The one file format of a Token, and the one way it is written: the file
// token store (MakeFileTokenStore) and the file-lock backend's shared record
// (MakeFileLockBackend) both keep their token in such a file.
//
// The format, one "key=value" line per field after a header (tokens are
// visible ASCII and a scope has no line break, so a line holds exactly one
// value):
//
//   authrefresh-token 2
//   generation=7                      (shared records only)
//   access_token=...
//   refresh_token=...
//   expires_at_unix_nanos=...|never
//   issued_at_unix_nanos=...|unknown
//   scope=...
//   dpop_jkt=...                      (DPoP-bound tokens only)
//
// Files of authrefresh 0.4 ("authrefresh-token 1" from the store,
// "authrefresh-shared 1" from the backend) are read too.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_FILE_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_FILE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "interceptor/token.h"

namespace authrefresh {
namespace internal {

struct TokenFile {
  // Present in a shared record's file.
  std::optional<uint64_t> generation;
  Token token;
};

// The file's text. INVALID_ARGUMENT if the scope has a line break.
absl::StatusOr<std::string> SerializeTokenFile(const TokenFile& file);

// The file's content; DATA_LOSS naming `path` and what is wrong (an unknown
// header or field, a field missing or given twice, a token with bytes a
// token cannot have), never quoting the content.
absl::StatusOr<TokenFile> ParseTokenFile(absl::string_view text, absl::string_view path);

// The content of the file at `path`: nullopt if it does not exist. Errors
// as WriteFileAtomically's.
absl::StatusOr<std::optional<std::string>> ReadWholeFile(const std::string& path,
                                                         absl::string_view what);

// Replaces the file at `path` with `data` so that a crash at any point
// leaves the old content or the new one, never a mix: writes a new file
// beside it (mode 0600 whatever the umask, created exclusively, never
// through a symlink), syncs it, renames it over `path` and syncs the
// directory. Errors name the path and errno's text: a permission problem is
// PERMISSION_DENIED, a read-only or full file system FAILED_PRECONDITION,
// anything else UNAVAILABLE. `what` starts each message ("token store").
absl::Status WriteFileAtomically(const std::string& path, absl::string_view data,
                                 absl::string_view what);

// Whether `jkt` can be a key's RFC 7638 thumbprint (Token::dpop_jkt): 1 to
// 86 base64url characters.
bool IsDpopThumbprint(absl::string_view jkt);

// errno as a status, mapped as WriteFileAtomically maps it.
absl::Status ErrnoStatus(int error, absl::string_view what, absl::string_view action,
                         absl::string_view path);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_FILE_H_
