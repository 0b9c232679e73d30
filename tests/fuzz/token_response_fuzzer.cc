// Fuzzes the one place that validates untrusted token responses: any bytes
// from a token service, parsed as authrefresh.v1.TokenResponse, then
// validated. Invariants: a token that passes is sendable as a header value,
// expires no earlier than it was sent, and an error never shows the token.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "interceptor/internal/token_response.h"
#include "protos/token_service.pb.h"
#include "tests/fuzz/fuzz_support.h"

using authrefresh::fuzz::Check;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  authrefresh::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  authrefresh::v1::TokenResponse response;
  if (!response.ParseFromArray(data, static_cast<int>(size))) return 0;
  const absl::Time sent = absl::FromUnixSeconds(1'700'000'000);
  absl::StatusOr<authrefresh::Token> token =
      authrefresh::internal::TokenFromResponse(response, sent);
  if (token.ok()) {
    Check(authrefresh::internal::CheckTokenSyntax(token->access_token, "t").ok());
    Check(token->access_token == response.access_token());
    Check(token->refresh_token == response.refresh_token());
    Check(token->expires_at >= sent);
    Check(token->issued_at == sent);
  } else {
    Check(token.status().code() == absl::StatusCode::kInternal);
    const std::string message(token.status().message());
    Check(message.rfind("malformed token response: ", 0) == 0);
    // The token never appears in the error. (A token made of the message's
    // own words, which the fuzzer does find, is not a leak: check tokens
    // with a character no template or escaped excerpt contains.)
    const std::string& t = response.access_token();
    if (t.size() >= 8 && t.find('#') != std::string::npos) {
      Check(message.find(t) == std::string::npos);
    }
  }
  return 0;
}
