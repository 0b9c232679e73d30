// Fuzzes what an HTTP token endpoint's answer means: any status, headers and
// body. Invariants: a success has a parsed body and no error; an error never
// shows the refresh token that was presented, stays bounded, and its
// Retry-After (when attached) is within [0, 1 h].

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "interceptor/internal/oauth_http.h"
#include "interceptor/internal/token_response.h"
#include "interceptor/token_refresher.h"
#include "tests/fuzz/fuzz_support.h"

using authrefresh::fuzz::Check;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  authrefresh::fuzz::SilenceProtobufLogs();
  return 0;
}

// Input: 2 bytes of status, a Retry-After line, then the body.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  authrefresh::internal::HttpAnswer answer;
  answer.status = 100 + (data[0] | (data[1] << 8)) % 500;
  std::string rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const size_t newline = rest.find('\n');
  if (newline != std::string::npos) {
    answer.retry_after = rest.substr(0, newline);
    rest.erase(0, newline + 1);
  }
  answer.content_type = "application/json";
  answer.body = rest;
  const std::string presented = "rt-PRESENTED-secret";
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  absl::StatusOr<authrefresh::Token> r =
      authrefresh::internal::InterpretTokenEndpointAnswer(answer, {presented}, now, now);
  if (r.ok()) {
    Check(answer.status == 200);
    Check(authrefresh::internal::CheckGrantedToken(*r).ok());
    Check(r->expires_at >= now);
    return 0;
  }
  const std::string message(r.status().message());
  Check(message.find(presented) == std::string::npos);
  Check(message.size() < 600);
  if (auto delay = authrefresh::RetryAfterOf(r.status())) {
    Check(*delay >= absl::ZeroDuration() && *delay <= absl::Hours(1));
  }
  return 0;
}
