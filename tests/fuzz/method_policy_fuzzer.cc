// Fuzzes the configuration and method names the interceptor sorts:
// excluded-method entries from the user and method names from any stub.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "interceptor/internal/call_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  // "entry\nentry\n...\0method"
  const size_t nul = input.find('\0');
  const std::string entries = input.substr(0, nul);
  const std::string method =
      nul == std::string::npos ? std::string("/x.Y/Z") : input.substr(nul + 1);
  std::vector<std::string> excluded = absl::StrSplit(entries, '\n');
  authrefresh::internal::MethodPolicy policy(excluded);
  const bool out = policy.Excluded(method.c_str());
  // The token service is never intercepted.
  if (method.rfind("/authrefresh.v1.TokenService/", 0) == 0 &&
      method.find('\0') == std::string::npos && !out) {
    std::abort();
  }
  // An exact entry always excludes its method.
  for (const std::string& entry : excluded) {
    if (!entry.empty() && entry[0] == '/' && entry.back() != '*' &&
        entry.find('\0') == std::string::npos &&
        !policy.Excluded(entry.c_str())) {
      std::abort();
    }
  }
  return 0;
}
