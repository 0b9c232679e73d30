#include "interceptor/internal/small_file.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/match.h"

namespace authrefresh {
namespace internal {

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string content;
  char buffer[4096];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    content.append(buffer, static_cast<size_t>(in.gcount()));
    if (content.size() > kMaxSmallFileBytes) return std::nullopt;
  }
  if (in.bad()) return std::nullopt;
  return content;
}

std::string ShowPath(absl::string_view path) {
  const bool looks_like_content = path.size() > 256 || absl::StrContains(path, "-----") ||
                                  std::any_of(path.begin(), path.end(), [](char c) {
                                    const unsigned char u = static_cast<unsigned char>(c);
                                    return u < 0x20 || u >= 0x7f;
                                  });
  if (looks_like_content) {
    return "(not shown: the value does not look like a file path; is it the "
           "file's content?)";
  }
  return std::string(path);
}

}  // namespace internal
}  // namespace authrefresh
