// interceptor/internal/small_file.h
//
// Reading the small files options name (keys, certificates, assertions,
// tokens) and naming them in statuses without ever showing their content.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_SMALL_FILE_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_SMALL_FILE_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace authrefresh {
namespace internal {

inline constexpr size_t kMaxSmallFileBytes = 64 * 1024;

// Reads a whole small file (at most kMaxSmallFileBytes); nullopt when it
// cannot be read or is larger.
std::optional<std::string> ReadSmallFile(const std::string& path);

// A file path as it may appear in a status: quoted as it is when it looks
// like a path, and not at all when it looks like what the file should hold
// (PEM text or a token pasted into a *_file option by mistake).
std::string ShowPath(absl::string_view path);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_SMALL_FILE_H_
