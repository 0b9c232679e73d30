#include "interceptor/internal/http_options.h"

#include <curl/curl.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "interceptor/internal/dpop.h"
#include "interceptor/internal/jws.h"
#include "interceptor/internal/oauth_http.h"
#include "interceptor/internal/signing_key.h"

namespace authrefresh {
namespace internal {
namespace {

// Validates the endpoint with libcurl's URL parser and returns its scheme.
absl::StatusOr<std::string> CheckEndpoint(const std::string& endpoint) {
  if (endpoint.empty()) {
    return absl::InvalidArgumentError("HttpTokenRefresherOptions.token_endpoint is empty");
  }
  CURLU* url = curl_url();
  if (url == nullptr) return absl::ResourceExhaustedError("curl_url() failed");
  auto free_url = [url] { curl_url_cleanup(url); };
  CURLUcode rc = curl_url_set(url, CURLUPART_URL, endpoint.c_str(), 0);
  if (rc != CURLUE_OK) {
    free_url();
    return absl::InvalidArgumentError(absl::StrCat(
        "HttpTokenRefresherOptions.token_endpoint is not a URL: ", curl_url_strerror(rc)));
  }
  auto part = [url](CURLUPart which) -> std::optional<std::string> {
    char* value = nullptr;
    if (curl_url_get(url, which, &value, 0) != CURLUE_OK || value == nullptr) {
      return std::nullopt;
    }
    std::string out = value;
    curl_free(value);
    return out;
  };
  const std::string scheme = absl::AsciiStrToLower(part(CURLUPART_SCHEME).value_or(""));
  const bool has_user = part(CURLUPART_USER).has_value();
  const bool has_fragment = part(CURLUPART_FRAGMENT).has_value();
  free_url();
  if (scheme != "https" && scheme != "http") {
    return absl::InvalidArgumentError(absl::StrCat(
        "HttpTokenRefresherOptions.token_endpoint must be an https:// URL, not ",
        scheme, "://"));
  }
  if (has_user) {
    return absl::InvalidArgumentError(
        "HttpTokenRefresherOptions.token_endpoint must not carry credentials; "
        "use client_id and client_secret");
  }
  if (has_fragment) {
    return absl::InvalidArgumentError(
        "HttpTokenRefresherOptions.token_endpoint must not have a #fragment");
  }
  return scheme;
}

constexpr absl::string_view kOptions = "HttpTokenRefresherOptions";

bool IsSet(const JwtSigningKey& k) {
  return !k.private_key_pem.empty() || !k.private_key_file.empty() ||
         !k.key_id.empty() || !k.certificate_pem.empty() || !k.certificate_file.empty();
}

using Options = HttpTokenRefresherOptions;
using Grant = Options::Grant;
using Auth = Options::ClientAuth;

template <typename... Parts>
absl::Status Invalid(const Parts&... parts) {
  return absl::InvalidArgumentError(absl::StrCat(kOptions, parts...));
}

// The endpoint and how it is reached; returns the endpoint's scheme.
absl::StatusOr<std::string> CheckTransport(const Options& o) {
  absl::StatusOr<std::string> scheme = CheckEndpoint(o.token_endpoint);
  if (!scheme.ok()) return scheme.status();
  if (*scheme == "http" && o.client_auth == Auth::kTlsClientAuth) {
    return Invalid(".client_auth is kTlsClientAuth, which needs an https:// token endpoint");
  }
  if (*scheme == "http" && !o.allow_insecure_http) {
    return absl::InvalidArgumentError(
        "refusing the http:// token endpoint: tokens, client secrets and "
        "assertions would travel in cleartext. Use https://, or set "
        "HttpTokenRefresherOptions.allow_insecure_http for a loopback test");
  }
  if (o.timeout <= absl::ZeroDuration()) return Invalid(".timeout must be positive");
  if (!o.ca_file.empty() && !o.ca_pem.empty()) return Invalid(": set ca_file or ca_pem, not both");
  if (!o.ca_file.empty() && !std::ifstream(o.ca_file).good()) {
    return Invalid(".ca_file cannot be read: ", ShowPath(o.ca_file));
  }
  if (o.client_certificate_file.empty() != o.client_key_file.empty()) {
    return Invalid(": set client_certificate_file and client_key_file together");
  }
  if (o.client_auth == Auth::kTlsClientAuth && o.client_certificate_file.empty()) {
    return Invalid(".client_auth is kTlsClientAuth but client_certificate_file is empty");
  }
  if (!o.client_certificate_file.empty() && *scheme == "http") {
    return Invalid(": a client certificate needs an https:// token endpoint; over "
                   "http:// it would never be presented");
  }
  if (!o.client_certificate_file.empty()) {
    std::optional<std::string> cert = ReadSmallFile(o.client_certificate_file);
    std::optional<std::string> key = ReadSmallFile(o.client_key_file);
    if (!cert) {
      return Invalid(".client_certificate_file cannot be read: ",
                     ShowPath(o.client_certificate_file));
    }
    if (!key) return Invalid(".client_key_file cannot be read: ", ShowPath(o.client_key_file));
    if (absl::Status s = CheckCertificateAndKey(
            *cert, *key, absl::StrCat(kOptions, ".client_certificate_file/client_key_file"));
        !s.ok()) {
      return s;
    }
  }
  return scheme;
}

// A grant's options are set only for that grant.
absl::Status CheckGrantOptionsUsed(const Options& o) {
  const Options::JwtBearer& jb = o.jwt_bearer;
  const bool jwt_bearer_set = IsSet(jb.key) || !jb.issuer.empty() || !jb.subject.empty() ||
                              !jb.audience.empty() || !jb.extra_claims.empty() ||
                              jb.lifetime != Options::JwtBearer().lifetime;
  if (o.grant != Grant::kJwtBearer && jwt_bearer_set) {
    return Invalid(".jwt_bearer is set but grant is not kJwtBearer");
  }
  const Options::TokenExchange& te = o.token_exchange;
  const bool token_exchange_set =
      !te.subject_token_file.empty() || !te.actor_token_file.empty() ||
      !te.actor_token_type.empty() || !te.requested_token_type.empty() ||
      te.subject_token_type != Options::TokenExchange().subject_token_type;
  if (o.grant != Grant::kTokenExchange && token_exchange_set) {
    return Invalid(".token_exchange is set but grant is not kTokenExchange");
  }
  return absl::OkStatus();
}

absl::Status PrepareJwtBearer(const Options& o, TokenRequestSpec* spec) {
  const Options::JwtBearer& jb = o.jwt_bearer;
  if (jb.issuer.empty()) return Invalid(".jwt_bearer.issuer is empty");
  if (jb.subject.empty()) return Invalid(".jwt_bearer.subject is empty");
  if (jb.lifetime <= absl::ZeroDuration() || jb.lifetime > absl::Hours(1)) {
    return Invalid(".jwt_bearer.lifetime must be positive and at most 1 hour");
  }
  for (const auto& [name, value] : jb.extra_claims) {
    for (absl::string_view registered : {"iss", "sub", "aud", "iat", "exp", "jti", "nbf"}) {
      if (name == registered) {
        return Invalid(".jwt_bearer.extra_claims may not set \"", name,
                       "\"; it is set by the refresher");
      }
    }
  }
  absl::StatusOr<std::shared_ptr<const JwtSigner>> signer =
      LoadSigningKey(jb.key, absl::StrCat(kOptions, ".jwt_bearer.key"));
  if (!signer.ok()) return signer.status();
  spec->grant_assertion = AssertionSpec{
      *std::move(signer), jb.issuer, jb.subject,
      jb.audience.empty() ? o.token_endpoint : jb.audience, jb.lifetime, jb.extra_claims};
  return absl::OkStatus();
}

absl::Status PrepareTokenExchange(const Options& o, TokenRequestSpec* spec) {
  const Options::TokenExchange& te = o.token_exchange;
  if (te.subject_token_file.empty()) return Invalid(".token_exchange.subject_token_file is empty");
  if (te.subject_token_type.empty()) return Invalid(".token_exchange.subject_token_type is empty");
  if (te.actor_token_file.empty() != te.actor_token_type.empty()) {
    return Invalid(".token_exchange: set actor_token_file and actor_token_type together");
  }
  // The manager attaches what it gets as a bearer access token; an ID token
  // or a SAML assertion (token_type "N_A") would be refused forever.
  if (!te.requested_token_type.empty() &&
      te.requested_token_type != "urn:ietf:params:oauth:token-type:access_token" &&
      te.requested_token_type != "urn:ietf:params:oauth:token-type:jwt") {
    return Invalid(".token_exchange.requested_token_type must be the access_token or jwt "
                   "token type URN: authrefresh sends the result as a bearer access token");
  }
  spec->file_parameters.emplace_back("subject_token", te.subject_token_file);
  if (!te.actor_token_file.empty()) {
    spec->file_parameters.emplace_back("actor_token", te.actor_token_file);
  }
  // Read once now, so that a wrong path is a configuration error; read again
  // at every grant.
  for (const auto& [name, path] : spec->file_parameters) {
    std::optional<std::string> content = ReadSmallFile(path);
    if (!content || absl::StripAsciiWhitespace(*content).empty()) {
      return Invalid(".token_exchange.", name, "_file cannot be read or is empty: ",
                     ShowPath(path));
    }
  }
  return absl::OkStatus();
}

absl::Status PrepareGrant(const Options& o, TokenRequestSpec* spec) {
  if (absl::Status s = CheckGrantOptionsUsed(o); !s.ok()) return s;
  switch (o.grant) {
    case Grant::kRefreshToken:
      spec->grant_type = "refresh_token";
      spec->send_refresh_token = true;
      return absl::OkStatus();
    case Grant::kClientCredentials:
      spec->grant_type = "client_credentials";
      return absl::OkStatus();
    case Grant::kJwtBearer:
      spec->grant_type = "urn:ietf:params:oauth:grant-type:jwt-bearer";
      return PrepareJwtBearer(o, spec);
    case Grant::kTokenExchange:
      spec->grant_type = "urn:ietf:params:oauth:grant-type:token-exchange";
      return PrepareTokenExchange(o, spec);
  }
  return Invalid(".grant is not a Grant value");
}

// client_id and client_secret, as the client authentication method wants
// them.
absl::Status CheckClientIdentity(const Options& o) {
  switch (o.client_auth) {
    case Auth::kClientSecretBasic:
    case Auth::kClientSecretPost:
    case Auth::kPrivateKeyJwt:
    case Auth::kTlsClientAuth:
    case Auth::kNone:
    case Auth::kClientAssertionFile:
      break;
    default:
      return Invalid(".client_auth is not a ClientAuth value");
  }
  const bool secret_auth =
      o.client_auth == Auth::kClientSecretBasic || o.client_auth == Auth::kClientSecretPost;
  // The JWT-bearer and token-exchange grants may be made by no client at all
  // (Google's token endpoint takes the assertion alone).
  const bool anonymous_grant_allowed =
      (o.grant == Grant::kJwtBearer || o.grant == Grant::kTokenExchange) &&
      o.client_auth == Auth::kNone;
  if (o.client_id.empty() && !anonymous_grant_allowed) return Invalid(".client_id is empty");
  if (secret_auth && o.client_secret.empty()) {
    return Invalid(".client_secret is empty; a public client sets client_auth = "
                   "ClientAuth::kNone");
  }
  if (!secret_auth && !o.client_secret.empty()) {
    return Invalid(".client_secret is set but client_auth does not use it; choose "
                   "kClientSecretBasic or kClientSecretPost");
  }
  if (o.grant == Grant::kClientCredentials && o.client_auth == Auth::kNone) {
    return Invalid(": the client_credentials grant needs client authentication "
                   "(RFC 6749 section 4.4); client_auth is kNone");
  }
  return absl::OkStatus();
}

// private_key_jwt's signer, or that its options are unset.
absl::Status PrepareClientAssertion(const Options& o, TokenRequestSpec* spec) {
  if (o.client_auth != Auth::kPrivateKeyJwt) {
    // These shape the assertions this refresher signs; a file's assertion is
    // signed elsewhere.
    const char* set = IsSet(o.client_assertion_key)          ? "client_assertion_key"
                      : !o.client_assertion_audience.empty() ? "client_assertion_audience"
                      : o.client_assertion_lifetime != Options().client_assertion_lifetime
                          ? "client_assertion_lifetime"
                          : nullptr;
    if (set == nullptr) return absl::OkStatus();
    return Invalid(".", set, " is set but client_auth is not kPrivateKeyJwt, the only "
                   "method that signs client assertions");
  }
  if (o.client_assertion_lifetime <= absl::ZeroDuration() ||
      o.client_assertion_lifetime > absl::Minutes(10)) {
    return Invalid(".client_assertion_lifetime must be positive and at most 10 minutes");
  }
  absl::StatusOr<std::shared_ptr<const JwtSigner>> signer =
      LoadSigningKey(o.client_assertion_key, absl::StrCat(kOptions, ".client_assertion_key"));
  if (!signer.ok()) return signer.status();
  spec->client_assertion = AssertionSpec{
      *std::move(signer), o.client_id, o.client_id,
      o.client_assertion_audience.empty() ? o.token_endpoint : o.client_assertion_audience,
      o.client_assertion_lifetime, {}};
  return absl::OkStatus();
}

absl::Status PrepareClientAssertionFile(const Options& o, TokenRequestSpec* spec) {
  if (o.client_auth != Auth::kClientAssertionFile) {
    if (o.client_assertion_file.empty()) return absl::OkStatus();
    return Invalid(".client_assertion_file is set but client_auth is not kClientAssertionFile");
  }
  if (o.client_assertion_file.empty()) {
    return Invalid(".client_auth is kClientAssertionFile but client_assertion_file is empty");
  }
  // Read once now, so that a wrong path or a wrong file is a configuration
  // error; read again at every grant.
  std::optional<std::string> content = ReadSmallFile(o.client_assertion_file);
  if (!content || absl::StripAsciiWhitespace(*content).empty()) {
    return Invalid(".client_assertion_file cannot be read or is empty: ",
                   ShowPath(o.client_assertion_file));
  }
  if (!LooksLikeCompactJws(absl::StripAsciiWhitespace(*content))) {
    return Invalid(".client_assertion_file does not hold a JWT (a JWS in compact form; "
                   "a private key belongs in client_assertion_key): ",
                   ShowPath(o.client_assertion_file));
  }
  spec->client_assertion_file = o.client_assertion_file;
  return absl::OkStatus();
}

// The fixed form parameters and the Basic authorization, once the names
// nobody may set twice are checked.
absl::Status AddFixedParameters(const Options& o, PreparedTokenRequest* p) {
  std::vector<std::string> reserved = {
      "grant_type", "refresh_token", "client_id", "client_secret", "scope",
      "assertion", "client_assertion", "client_assertion_type", "subject_token",
      "subject_token_type", "actor_token", "actor_token_type", "requested_token_type"};
  if (!o.audience.empty()) reserved.push_back("audience");
  if (!o.resources.empty()) reserved.push_back("resource");
  for (const auto& [name, value] : o.extra_parameters) {
    if (name.empty() || std::find(reserved.begin(), reserved.end(), name) != reserved.end()) {
      return Invalid(".extra_parameters may not set \"", name,
                     "\"; it is set by the refresher or by its own option");
    }
  }
  for (const std::string& resource : o.resources) {
    if (!IsAbsoluteUri(resource) || resource.find('#') != std::string::npos) {
      return Invalid(".resources: \"", CleanServerText(resource, {}, 100),
                     "\" is not an absolute URI without a fragment (RFC 8707)");
    }
  }
  TokenRequestSpec& spec = p->spec;
  auto& params = spec.parameters;
  if (!o.scope.empty()) params.emplace_back("scope", o.scope);
  if (!o.audience.empty()) params.emplace_back("audience", o.audience);
  for (const std::string& resource : o.resources) params.emplace_back("resource", resource);
  if (o.grant == Grant::kTokenExchange) {
    const Options::TokenExchange& te = o.token_exchange;
    params.emplace_back("subject_token_type", te.subject_token_type);
    if (!te.actor_token_type.empty()) params.emplace_back("actor_token_type", te.actor_token_type);
    if (!te.requested_token_type.empty()) {
      params.emplace_back("requested_token_type", te.requested_token_type);
    }
  }
  if (o.client_auth != Auth::kClientSecretBasic && !o.client_id.empty()) {
    params.emplace_back("client_id", o.client_id);
  }
  if (o.client_auth == Auth::kClientSecretPost) params.emplace_back("client_secret", o.client_secret);
  for (const auto& parameter : o.extra_parameters) params.push_back(parameter);
  if (o.client_auth == Auth::kClientSecretBasic || o.client_auth == Auth::kClientSecretPost) {
    spec.fixed_secrets.push_back(o.client_secret);
  }
  if (o.client_auth == Auth::kClientSecretBasic) {
    const std::string credential = absl::Base64Escape(
        absl::StrCat(FormEncode(o.client_id), ":", FormEncode(o.client_secret)));
    p->authorization = absl::StrCat("Authorization: Basic ", credential);
    // A server that echoes its request headers echoes this.
    spec.fixed_secrets.push_back(credential);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PreparedTokenRequest> PrepareTokenRequest(const Options& o) {
  absl::StatusOr<std::string> scheme = CheckTransport(o);
  if (!scheme.ok()) return scheme.status();
  PreparedTokenRequest p;
  if (absl::Status s = PrepareGrant(o, &p.spec); !s.ok()) return s;
  if (absl::Status s = CheckClientIdentity(o); !s.ok()) return s;
  if (absl::Status s = PrepareClientAssertion(o, &p.spec); !s.ok()) return s;
  if (absl::Status s = PrepareClientAssertionFile(o, &p.spec); !s.ok()) return s;
  if (absl::Status s = AddFixedParameters(o, &p); !s.ok()) return s;
  if (o.dpop.accept_bearer && o.dpop.key == nullptr) {
    return Invalid(".dpop.accept_bearer is set without a dpop.key");
  }
  if (o.dpop.key != nullptr) {
    absl::StatusOr<std::string> htu = DpopTargetUri(o.token_endpoint);
    if (!htu.ok()) return Invalid(".token_endpoint: ", htu.status().message());
    p.dpop_htu = *std::move(htu);
    p.dpop_origin = std::string(DpopOrigin(p.dpop_htu));
  }
  return p;
}

}  // namespace internal
}  // namespace authrefresh
