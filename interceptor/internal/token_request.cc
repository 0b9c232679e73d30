#include "interceptor/internal/token_request.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace authrefresh {
namespace internal {
namespace {


// A secret as the form carries it, and as a server may echo it: raw and
// percent-encoded.
void AddSecret(std::vector<std::string>* secrets, const std::string& value) {
  secrets->push_back(value);
  std::string encoded = FormEncode(value);
  if (encoded != value) secrets->push_back(std::move(encoded));
}

void AppendParameter(std::string* form, absl::string_view name, absl::string_view value) {
  if (!form->empty()) *form += '&';
  absl::StrAppend(form, FormEncode(name), "=", FormEncode(value));
}

// The content of a file parameter, read now, surrounding whitespace
// removed: UNAVAILABLE, naming the file and never its content, when it cannot
// be read or is empty.
absl::StatusOr<std::string> ReadFileParameter(absl::string_view name, const std::string& path) {
  std::optional<std::string> content = ReadSmallFile(path);
  if (!content) {
    return absl::UnavailableError(absl::StrCat("cannot read the ", name, " file ", ShowPath(path),
                                               " (missing, unreadable or over ",
                                               kMaxSmallFileBytes / 1024, " KiB)"));
  }
  std::string value(absl::StripAsciiWhitespace(*content));
  if (value.empty()) {
    return absl::UnavailableError(
        absl::StrCat("the ", name, " file ", ShowPath(path), " is empty"));
  }
  return value;
}

absl::StatusOr<std::string> SignAssertion(const AssertionSpec& spec, absl::Time now,
                                          const std::function<std::string()>& new_jti) {
  const int64_t iat = absl::ToUnixSeconds(now);
  JsonObject claims;
  claims.Add("iss", spec.issuer)
      .Add("sub", spec.subject)
      .Add("aud", spec.audience)
      .Add("iat", iat)
      .Add("exp", iat + absl::ToInt64Seconds(spec.lifetime))
      .Add("jti", new_jti());
  for (const auto& [name, value] : spec.extra_claims) claims.Add(name, value);
  return spec.signer->Sign(claims.Close());
}

}  // namespace

std::string FormEncode(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      absl::StrAppendFormat(&out, "%%%02X", u);
    }
  }
  return out;
}

bool LooksLikeCompactJws(absl::string_view value) {
  int dots = 0;
  size_t segment = 0;  // length of the current segment
  for (char c : value) {
    if (c == '.') {
      if (segment == 0 && dots < 2) return false;  // header and payload not empty
      ++dots;
      segment = 0;
      continue;
    }
    const unsigned char u = static_cast<unsigned char>(c);
    if (!absl::ascii_isalnum(u) && c != '-' && c != '_') return false;
    ++segment;
  }
  return dots == 2;
}

bool IsAbsoluteUri(absl::string_view uri) {
  const size_t colon = uri.find(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == uri.size()) return false;
  if (!absl::ascii_isalpha(static_cast<unsigned char>(uri[0]))) return false;
  for (char c : uri.substr(0, colon)) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' &&
        c != '.') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<TokenRequestBody> BuildTokenRequest(
    const TokenRequestSpec& spec, const GrantRequest& request, absl::Time now,
    const std::function<std::string()>& new_jti) {
  TokenRequestBody body;
  for (const std::string& secret : spec.fixed_secrets) AddSecret(&body.secrets, secret);
  AppendParameter(&body.form, "grant_type", spec.grant_type);
  if (spec.send_refresh_token) {
    AppendParameter(&body.form, "refresh_token", request.refresh_token);
    AddSecret(&body.secrets, request.refresh_token);
  }
  for (const auto& [name, path] : spec.file_parameters) {
    absl::StatusOr<std::string> value = ReadFileParameter(name, path);
    if (!value.ok()) return value.status();
    AppendParameter(&body.form, name, *value);
    AddSecret(&body.secrets, *value);
  }
  if (spec.grant_assertion) {
    absl::StatusOr<std::string> jwt = SignAssertion(*spec.grant_assertion, now, new_jti);
    if (!jwt.ok()) return jwt.status();
    AppendParameter(&body.form, "assertion", *jwt);
    body.secrets.push_back(*std::move(jwt));
  }
  for (const auto& [name, value] : spec.parameters) {
    AppendParameter(&body.form, name, value);
  }
  if (spec.client_assertion) {
    absl::StatusOr<std::string> jwt = SignAssertion(*spec.client_assertion, now, new_jti);
    if (!jwt.ok()) return jwt.status();
    AppendParameter(&body.form, "client_assertion_type", kClientAssertionType);
    AppendParameter(&body.form, "client_assertion", *jwt);
    body.secrets.push_back(*std::move(jwt));
  }
  if (!spec.client_assertion_file.empty()) {
    absl::StatusOr<std::string> value =
        ReadFileParameter("client_assertion", spec.client_assertion_file);
    if (!value.ok()) return value.status();
    if (!LooksLikeCompactJws(*value)) {
      // Not quoted: it may be a key that was meant for another option.
      return absl::UnavailableError(absl::StrCat("the client_assertion file ",
                                                 ShowPath(spec.client_assertion_file),
                                                 " does not hold a JWT (a JWS in compact form)"));
    }
    AppendParameter(&body.form, "client_assertion_type", kClientAssertionType);
    AppendParameter(&body.form, "client_assertion", *value);
    AddSecret(&body.secrets, *value);
  }
  return body;
}

}  // namespace internal
}  // namespace authrefresh
