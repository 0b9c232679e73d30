#include "interceptor/internal/oauth_http.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "interceptor/internal/token_response.h"
#include "interceptor/token_refresher.h"
#include "protos/token_service.pb.h"

namespace authrefresh {
namespace internal {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// Parses `body` as a JSON object. Never returns the parser's message: it can
// quote the body, and the body can hold tokens.
std::optional<Struct> ParseObject(absl::string_view body) {
  Struct object;
  google::protobuf::util::JsonParseOptions options;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(body.data(), body.size()), &object,
           options)
           .ok()) {
    return std::nullopt;
  }
  return object;
}

std::string StringField(const Struct& object, const char* name) {
  auto it = object.fields().find(name);
  if (it == object.fields().end() || it->second.kind_case() != Value::kStringValue) {
    return "";
  }
  return it->second.string_value();
}

absl::Status Attach(absl::Status status, const HttpAnswer& answer, absl::Time now) {
  if (answer.retry_after) {
    if (auto delay = ParseRetryAfter(*answer.retry_after, now)) {
      return WithRetryAfter(std::move(status), *delay);
    }
  }
  return status;
}

absl::StatusCode CodeOfOAuthError(absl::string_view error) {
  if (error == "invalid_grant") return absl::StatusCode::kUnauthenticated;
  if (error == "invalid_client" || error == "unauthorized_client") {
    return absl::StatusCode::kPermissionDenied;
  }
  if (error == "invalid_request" || error == "invalid_scope") {
    return absl::StatusCode::kInvalidArgument;
  }
  if (error == "unsupported_grant_type") return absl::StatusCode::kFailedPrecondition;
  if (error == "temporarily_unavailable") return absl::StatusCode::kUnavailable;
  if (error == "server_error") return absl::StatusCode::kInternal;
  return absl::StatusCode::kUnknown;  // not in RFC 6749: transient
}

std::string Describe(const HttpAnswer& answer) {
  return absl::StrCat("HTTP ", answer.status,
                      answer.content_type.empty()
                          ? std::string(", no Content-Type")
                          : absl::StrCat(", Content-Type \"",
                                         CleanServerText(answer.content_type, {}, 60),
                                         "\""),
                      ", ", answer.body.size(), " bytes");
}

}  // namespace

std::string CleanServerText(absl::string_view text,
                            const std::vector<std::string>& secrets, size_t max) {
  std::string out(text);
  for (const std::string& secret : secrets) {
    if (!secret.empty()) absl::StrReplaceAll({{secret, "<redacted>"}}, &out);
  }
  text = out;
  std::string clean;
  for (char c : text) {
    if (clean.size() >= max) {
      clean += "...";
      break;
    }
    const unsigned char u = static_cast<unsigned char>(c);
    clean += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  return clean;
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now) {
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  absl::Duration delay;
  int64_t seconds = 0;
  if (absl::ascii_isdigit(static_cast<unsigned char>(value[0]))) {
    if (!absl::SimpleAtoi(value, &seconds)) {
      // All digits but too large for int64: the cap applies.
      if (std::all_of(value.begin(), value.end(), [](char c) {
            return absl::ascii_isdigit(static_cast<unsigned char>(c));
          })) {
        return kMaxRetryAfter;
      }
      return std::nullopt;
    }
    delay = absl::Seconds(seconds);
  } else {
    // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
    absl::Time at;
    std::string error;
    if (!absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", std::string(value),
                         absl::UTCTimeZone(), &at, &error)) {
      return std::nullopt;
    }
    delay = at - now;
  }
  return std::clamp(delay, absl::ZeroDuration(), kMaxRetryAfter);
}

bool IsDpopNonceChallenge(const HttpAnswer& answer) {
  if (answer.status != 400 || answer.body.size() > kMaxTokenEndpointResponseBytes) return false;
  const std::optional<Struct> object = ParseObject(answer.body);
  return object && StringField(*object, "error") == "use_dpop_nonce";
}

absl::StatusOr<Token> InterpretTokenEndpointAnswer(const HttpAnswer& answer,
                                                   const std::vector<std::string>& secrets,
                                                   absl::Time sent_at, absl::Time now,
                                                   const ExpectedTokenType& expected) {
  if (answer.body.size() > kMaxTokenEndpointResponseBytes) {
    return absl::InternalError(absl::StrCat(
        "token endpoint response is larger than ",
        kMaxTokenEndpointResponseBytes, " bytes (", Describe(answer), ")"));
  }
  const std::optional<Struct> object = ParseObject(answer.body);
  const std::string error = object ? StringField(*object, "error") : "";

  if (!error.empty()) {
    // RFC 6749 section 5.2, whatever the status code says.
    const std::string description = StringField(*object, "error_description");
    absl::StatusCode code = CodeOfOAuthError(error);
    absl::Status status(
        code, absl::StrCat("token endpoint: ", CleanServerText(error, secrets, 60),
                           " (HTTP ", answer.status, ")",
                           description.empty()
                               ? ""
                               : absl::StrCat(": ", CleanServerText(description, secrets))));
    return Attach(std::move(status), answer, now);
  }
  if (answer.status == 200) {
    v1::TokenResponse response;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    if (!object || !google::protobuf::util::JsonStringToMessage(
                        google::protobuf::StringPiece(answer.body.data(),
                                                      answer.body.size()),
                        &response, options)
                        .ok()) {
      return absl::InternalError(absl::StrCat(
          "malformed token response: not the JSON object of RFC 6749 section "
          "5.1 (",
          Describe(answer), ")"));
    }
    return TokenFromResponse(response, sent_at, secrets, expected);
  }
  if (answer.status == 429) {
    return Attach(absl::ResourceExhaustedError(absl::StrCat(
                      "token endpoint is rate limiting (", Describe(answer), ")")),
                  answer, now);
  }
  if (answer.status >= 500 && answer.status <= 599) {
    return Attach(absl::UnavailableError(absl::StrCat(
                      "token endpoint failed (", Describe(answer), ")")),
                  answer, now);
  }
  if (answer.status == 401) {
    return absl::PermissionDeniedError(absl::StrCat(
        "token endpoint refused the client's credentials (", Describe(answer),
        ")"));
  }
  if (answer.status >= 300 && answer.status <= 399) {
    return absl::InternalError(absl::StrCat(
        "token endpoint redirected (", Describe(answer),
        "); redirects are not followed: set token_endpoint to the final URL"));
  }
  return absl::InternalError(absl::StrCat(
      "token endpoint gave no token and no OAuth error (", Describe(answer),
      "); is token_endpoint right?"));
}

}  // namespace internal
}  // namespace authrefresh
