#include "interceptor/http_token_refresher.h"

#include <curl/curl.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "interceptor/internal/jws.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/internal/oauth_http.h"
#include "interceptor/internal/token_request.h"

namespace authrefresh {
namespace {

using internal::Mutex;
using internal::MutexLock;
using Options = HttpTokenRefresherOptions;

void InitCurlOnce() {
  static absl::once_flag once;
  absl::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

using internal::FormEncode;

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

// Reads `key`'s PEM text and file (exactly one of the two for the private
// key, at most one for the certificate) and makes its signer.
absl::StatusOr<std::shared_ptr<const internal::JwtSigner>> LoadSigningKey(
    const JwtSigningKey& key, const std::string& what) {
  auto read = [&](const std::string& pem, const std::string& file, const char* pem_name,
                  const char* file_name, bool required) -> absl::StatusOr<std::string> {
    if (!pem.empty() && !file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": set ", pem_name, " or ", file_name, ", not both"));
    }
    if (!file.empty()) {
      std::optional<std::string> content = internal::ReadSmallFile(file);
      if (!content) {
        return absl::InvalidArgumentError(absl::StrCat(what, ".", file_name,
                                                       " cannot be read: ",
                                                       internal::ShowPath(file)));
      }
      return *std::move(content);
    }
    if (pem.empty() && required) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": no private key; set ", pem_name, " or ", file_name));
    }
    return pem;
  };
  internal::JwsKeyMaterial material;
  material.algorithm = key.algorithm == JwtSigningKey::Algorithm::kES256
                           ? internal::JwsAlgorithm::kES256
                           : internal::JwsAlgorithm::kRS256;
  material.key_id = key.key_id;
  absl::StatusOr<std::string> private_key = read(
      key.private_key_pem, key.private_key_file, "private_key_pem", "private_key_file", true);
  if (!private_key.ok()) return private_key.status();
  material.private_key_pem = *std::move(private_key);
  absl::StatusOr<std::string> certificate = read(
      key.certificate_pem, key.certificate_file, "certificate_pem", "certificate_file", false);
  if (!certificate.ok()) return certificate.status();
  material.certificate_pem = *std::move(certificate);
  return internal::JwtSigner::Create(material, what);
}

// What MakeHttpTokenRefresher prepares once: the request's fixed parts and
// the signers.
struct Prepared {
  internal::TokenRequestSpec spec;
  std::string authorization;  // "Authorization: Basic ..." or empty
};

absl::StatusOr<Prepared> Prepare(const Options& o) {
  using Grant = Options::Grant;
  using Auth = Options::ClientAuth;
  auto invalid = [](const auto&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(kOptions, parts...));
  };
  absl::StatusOr<std::string> scheme = CheckEndpoint(o.token_endpoint);
  if (!scheme.ok()) return scheme.status();
  if (*scheme == "http" && o.client_auth == Auth::kTlsClientAuth) {
    return invalid(".client_auth is kTlsClientAuth, which needs an https:// token endpoint");
  }
  if (*scheme == "http" && !o.allow_insecure_http) {
    return absl::InvalidArgumentError(
        "refusing the http:// token endpoint: tokens, client secrets and "
        "assertions would travel in cleartext. Use https://, or set "
        "HttpTokenRefresherOptions.allow_insecure_http for a loopback test");
  }
  if (o.timeout <= absl::ZeroDuration()) return invalid(".timeout must be positive");
  if (!o.ca_file.empty() && !o.ca_pem.empty()) return invalid(": set ca_file or ca_pem, not both");
  if (!o.ca_file.empty() && !std::ifstream(o.ca_file).good()) {
    return invalid(".ca_file cannot be read: ", internal::ShowPath(o.ca_file));
  }

  Prepared p;
  internal::TokenRequestSpec& spec = p.spec;
  switch (o.grant) {
    case Grant::kRefreshToken:
      spec.grant_type = "refresh_token";
      spec.send_refresh_token = true;
      break;
    case Grant::kClientCredentials:
      spec.grant_type = "client_credentials";
      break;
    case Grant::kJwtBearer:
      spec.grant_type = "urn:ietf:params:oauth:grant-type:jwt-bearer";
      break;
    case Grant::kTokenExchange:
      spec.grant_type = "urn:ietf:params:oauth:grant-type:token-exchange";
      break;
    default:
      return invalid(".grant is not a Grant value");
  }

  // The grant's own options, and only its own.
  const Options::JwtBearer& jb = o.jwt_bearer;
  const Options::JwtBearer jb_default;
  const bool jwt_bearer_set = IsSet(jb.key) || !jb.issuer.empty() || !jb.subject.empty() ||
                              !jb.audience.empty() || !jb.extra_claims.empty() ||
                              jb.lifetime != jb_default.lifetime;
  if (o.grant != Grant::kJwtBearer && jwt_bearer_set) {
    return invalid(".jwt_bearer is set but grant is not kJwtBearer");
  }
  const Options::TokenExchange& te = o.token_exchange;
  const bool token_exchange_set =
      !te.subject_token_file.empty() || !te.actor_token_file.empty() ||
      !te.actor_token_type.empty() || !te.requested_token_type.empty() ||
      te.subject_token_type != Options::TokenExchange().subject_token_type;
  if (o.grant != Grant::kTokenExchange && token_exchange_set) {
    return invalid(".token_exchange is set but grant is not kTokenExchange");
  }
  if (o.grant == Grant::kJwtBearer) {
    if (jb.issuer.empty()) return invalid(".jwt_bearer.issuer is empty");
    if (jb.subject.empty()) return invalid(".jwt_bearer.subject is empty");
    if (jb.lifetime <= absl::ZeroDuration() || jb.lifetime > absl::Hours(1)) {
      return invalid(".jwt_bearer.lifetime must be positive and at most 1 hour");
    }
    for (const auto& [name, value] : jb.extra_claims) {
      for (absl::string_view registered : {"iss", "sub", "aud", "iat", "exp", "jti", "nbf"}) {
        if (name == registered) {
          return invalid(".jwt_bearer.extra_claims may not set \"", name,
                         "\"; it is set by the refresher");
        }
      }
    }
    absl::StatusOr<std::shared_ptr<const internal::JwtSigner>> signer =
        LoadSigningKey(jb.key, absl::StrCat(kOptions, ".jwt_bearer.key"));
    if (!signer.ok()) return signer.status();
    spec.grant_assertion = internal::AssertionSpec{
        *std::move(signer), jb.issuer, jb.subject,
        jb.audience.empty() ? o.token_endpoint : jb.audience, jb.lifetime, jb.extra_claims};
  }
  if (o.grant == Grant::kTokenExchange) {
    if (te.subject_token_file.empty()) return invalid(".token_exchange.subject_token_file is empty");
    if (te.subject_token_type.empty()) return invalid(".token_exchange.subject_token_type is empty");
    if (te.actor_token_file.empty() != te.actor_token_type.empty()) {
      return invalid(".token_exchange: set actor_token_file and actor_token_type together");
    }
    // The manager attaches what it gets as a bearer access token; an ID
    // token or a SAML assertion (token_type "N_A") would be refused forever.
    if (!te.requested_token_type.empty() &&
        te.requested_token_type != "urn:ietf:params:oauth:token-type:access_token" &&
        te.requested_token_type != "urn:ietf:params:oauth:token-type:jwt") {
      return invalid(".token_exchange.requested_token_type must be the access_token or jwt "
                     "token type URN: authrefresh sends the result as a bearer access token");
    }
    spec.file_parameters.emplace_back("subject_token", te.subject_token_file);
    if (!te.actor_token_file.empty()) {
      spec.file_parameters.emplace_back("actor_token", te.actor_token_file);
    }
    // Read once now, so that a wrong path is a configuration error; read
    // again at every grant.
    for (const auto& [name, path] : spec.file_parameters) {
      std::optional<std::string> content = internal::ReadSmallFile(path);
      if (!content || absl::StripAsciiWhitespace(*content).empty()) {
        return invalid(".token_exchange.", name,
                       "_file cannot be read or is empty: ", internal::ShowPath(path));
      }
    }
  }

  // Client authentication.
  const bool secret_auth = o.client_auth == Auth::kClientSecretBasic ||
                           o.client_auth == Auth::kClientSecretPost;
  switch (o.client_auth) {
    case Auth::kClientSecretBasic:
    case Auth::kClientSecretPost:
    case Auth::kPrivateKeyJwt:
    case Auth::kTlsClientAuth:
    case Auth::kNone:
    case Auth::kClientAssertionFile:
      break;
    default:
      return invalid(".client_auth is not a ClientAuth value");
  }
  // The JWT-bearer and token-exchange grants may be made by no client at all
  // (Google's token endpoint takes the assertion alone).
  const bool anonymous_grant_allowed =
      (o.grant == Grant::kJwtBearer || o.grant == Grant::kTokenExchange) &&
      o.client_auth == Auth::kNone;
  if (o.client_id.empty() && !anonymous_grant_allowed) {
    return invalid(".client_id is empty");
  }
  if (secret_auth && o.client_secret.empty()) {
    return invalid(".client_secret is empty; a public client sets client_auth = "
                   "ClientAuth::kNone");
  }
  if (!secret_auth && !o.client_secret.empty()) {
    return invalid(".client_secret is set but client_auth does not use it; choose "
                   "kClientSecretBasic or kClientSecretPost");
  }
  if (o.grant == Grant::kClientCredentials && o.client_auth == Auth::kNone) {
    return invalid(": the client_credentials grant needs client authentication "
                   "(RFC 6749 section 4.4); client_auth is kNone");
  }
  if (o.client_auth != Auth::kPrivateKeyJwt) {
    // These shape the assertions this refresher signs; a file's assertion
    // is signed elsewhere.
    const char* set = IsSet(o.client_assertion_key)          ? "client_assertion_key"
                      : !o.client_assertion_audience.empty() ? "client_assertion_audience"
                      : o.client_assertion_lifetime != Options().client_assertion_lifetime
                          ? "client_assertion_lifetime"
                          : nullptr;
    if (set != nullptr) {
      return invalid(".", set, " is set but client_auth is not kPrivateKeyJwt, the only "
                     "method that signs client assertions");
    }
  }
  if (o.client_auth == Auth::kPrivateKeyJwt) {
    if (o.client_assertion_lifetime <= absl::ZeroDuration() ||
        o.client_assertion_lifetime > absl::Minutes(10)) {
      return invalid(".client_assertion_lifetime must be positive and at most 10 minutes");
    }
    absl::StatusOr<std::shared_ptr<const internal::JwtSigner>> signer =
        LoadSigningKey(o.client_assertion_key, absl::StrCat(kOptions, ".client_assertion_key"));
    if (!signer.ok()) return signer.status();
    spec.client_assertion = internal::AssertionSpec{
        *std::move(signer), o.client_id, o.client_id,
        o.client_assertion_audience.empty() ? o.token_endpoint : o.client_assertion_audience,
        o.client_assertion_lifetime, {}};
  }
  if (o.client_auth != Auth::kClientAssertionFile && !o.client_assertion_file.empty()) {
    return invalid(".client_assertion_file is set but client_auth is not kClientAssertionFile");
  }
  if (o.client_auth == Auth::kClientAssertionFile) {
    if (o.client_assertion_file.empty()) {
      return invalid(".client_auth is kClientAssertionFile but client_assertion_file is empty");
    }
    // Read once now, so that a wrong path or a wrong file is a
    // configuration error; read again at every grant.
    std::optional<std::string> content = internal::ReadSmallFile(o.client_assertion_file);
    if (!content || absl::StripAsciiWhitespace(*content).empty()) {
      return invalid(".client_assertion_file cannot be read or is empty: ",
                     internal::ShowPath(o.client_assertion_file));
    }
    if (!internal::LooksLikeCompactJws(absl::StripAsciiWhitespace(*content))) {
      return invalid(".client_assertion_file does not hold a JWT (a JWS in compact form; "
                     "a private key belongs in client_assertion_key): ",
                     internal::ShowPath(o.client_assertion_file));
    }
    spec.client_assertion_file = o.client_assertion_file;
  }
  if (o.client_certificate_file.empty() != o.client_key_file.empty()) {
    return invalid(": set client_certificate_file and client_key_file together");
  }
  if (o.client_auth == Auth::kTlsClientAuth && o.client_certificate_file.empty()) {
    return invalid(".client_auth is kTlsClientAuth but client_certificate_file is empty");
  }
  if (!o.client_certificate_file.empty() && *scheme == "http") {
    return invalid(": a client certificate needs an https:// token endpoint; over "
                   "http:// it would never be presented");
  }
  if (!o.client_certificate_file.empty()) {
    std::optional<std::string> cert = internal::ReadSmallFile(o.client_certificate_file);
    std::optional<std::string> key = internal::ReadSmallFile(o.client_key_file);
    if (!cert) {
      return invalid(".client_certificate_file cannot be read: ",
                     internal::ShowPath(o.client_certificate_file));
    }
    if (!key) {
      return invalid(".client_key_file cannot be read: ", internal::ShowPath(o.client_key_file));
    }
    if (absl::Status s = internal::CheckCertificateAndKey(
            *cert, *key, absl::StrCat(kOptions, ".client_certificate_file/client_key_file"));
        !s.ok()) {
      return s;
    }
  }

  // Fixed parameters, and the names nobody may set twice.
  std::vector<std::string> reserved = {
      "grant_type", "refresh_token", "client_id", "client_secret", "scope",
      "assertion", "client_assertion", "client_assertion_type", "subject_token",
      "subject_token_type", "actor_token", "actor_token_type", "requested_token_type"};
  if (!o.audience.empty()) reserved.push_back("audience");
  if (!o.resources.empty()) reserved.push_back("resource");
  for (const auto& [name, value] : o.extra_parameters) {
    if (name.empty() || std::find(reserved.begin(), reserved.end(), name) != reserved.end()) {
      return invalid(".extra_parameters may not set \"", name,
                     "\"; it is set by the refresher or by its own option");
    }
  }
  for (const std::string& resource : o.resources) {
    if (!internal::IsAbsoluteUri(resource) || resource.find('#') != std::string::npos) {
      return invalid(".resources: \"", internal::CleanServerText(resource, {}, 100),
                     "\" is not an absolute URI without a fragment (RFC 8707)");
    }
  }
  auto& params = spec.parameters;
  if (!o.scope.empty()) params.emplace_back("scope", o.scope);
  if (!o.audience.empty()) params.emplace_back("audience", o.audience);
  for (const std::string& resource : o.resources) params.emplace_back("resource", resource);
  if (o.grant == Grant::kTokenExchange) {
    params.emplace_back("subject_token_type", te.subject_token_type);
    if (!te.actor_token_type.empty()) params.emplace_back("actor_token_type", te.actor_token_type);
    if (!te.requested_token_type.empty()) {
      params.emplace_back("requested_token_type", te.requested_token_type);
    }
  }
  if (o.client_auth != Auth::kClientSecretBasic && !o.client_id.empty()) {
    params.emplace_back("client_id", o.client_id);
  }
  if (o.client_auth == Auth::kClientSecretPost) {
    params.emplace_back("client_secret", o.client_secret);
  }
  for (const auto& parameter : o.extra_parameters) params.push_back(parameter);
  if (secret_auth) spec.fixed_secrets.push_back(o.client_secret);
  if (o.client_auth == Auth::kClientSecretBasic) {
    const std::string credential = absl::Base64Escape(
        absl::StrCat(FormEncode(o.client_id), ":", FormEncode(o.client_secret)));
    p.authorization = absl::StrCat("Authorization: Basic ", credential);
    // A server that echoes its request headers echoes this.
    spec.fixed_secrets.push_back(credential);
  }
  return p;
}

// State the worker thread shares with the refresher; outlives either.
struct Shared {
  Shared(Options o, Prepared p)
      : options(std::move(o)), prepared(std::move(p)), multi(curl_multi_init()) {}
  ~Shared() { curl_multi_cleanup(multi); }

  struct Job {
    GrantRequest request;
    TokenRefresher::Done done;
  };

  const Options options;
  const Prepared prepared;
  CURLM* const multi;  // used by the worker; wakeup by anyone

  Mutex mu;
  std::optional<Job> next ABSL_GUARDED_BY(mu);
  bool shutdown ABSL_GUARDED_BY(mu) = false;
};

// One HTTP exchange in flight.
struct Transfer {
  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  Shared::Job job;
  std::string form;
  std::vector<std::string> secrets;  // what the form carries, for scrubbing
  std::string response;
  bool too_large = false;
  char error[CURL_ERROR_SIZE] = {0};
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (t->response.size() + n > internal::kMaxTokenEndpointResponseBytes) {
    t->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->response.append(data, size * n);
  return size * n;
}

// The request for `job`, ready for curl_multi_add_handle; or the error that
// prevents it (an unreadable subject token file, a failed signature).
absl::StatusOr<std::unique_ptr<Transfer>> StartTransfer(const Shared& shared, Shared::Job* job) {
  const Options& o = shared.options;
  absl::StatusOr<internal::TokenRequestBody> body =
      internal::BuildTokenRequest(shared.prepared.spec, job->request, absl::Now());
  if (!body.ok()) return body.status();
  auto t = std::make_unique<Transfer>();
  t->easy = curl_easy_init();
  if (t->easy == nullptr) return absl::ResourceExhaustedError("curl_easy_init() failed");
  // Moved only once nothing can fail, so that the caller can still answer.
  t->job = std::move(*job);
  t->form = std::move(body->form);
  t->secrets = std::move(body->secrets);
  CURL* e = t->easy;
  t->headers = curl_slist_append(t->headers,
                                 "Content-Type: application/x-www-form-urlencoded");
  t->headers = curl_slist_append(t->headers, "Accept: application/json");
  t->headers = curl_slist_append(t->headers, "Expect:");
  if (!shared.prepared.authorization.empty()) {
    t->headers = curl_slist_append(t->headers, shared.prepared.authorization.c_str());
  }
  curl_easy_setopt(e, CURLOPT_URL, o.token_endpoint.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, o.allow_insecure_http ? "http,https" : "https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->form.c_str());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->form.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "authrefresh");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(o.timeout)));
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!o.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.ca_pem.empty()) {
    curl_blob blob{const_cast<char*>(o.ca_pem.data()), o.ca_pem.size(),
                   CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (!o.client_certificate_file.empty()) {
    // By path: libcurl reads them for each new connection, so a rotated
    // certificate is picked up without rebuilding the refresher.
    curl_easy_setopt(e, CURLOPT_SSLCERT, o.client_certificate_file.c_str());
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(e, CURLOPT_SSLKEY, o.client_key_file.c_str());
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  }
  return t;
}

absl::StatusOr<v1::TokenResponse> Finish(Transfer& t, CURLcode code,
                                         absl::Duration timeout) {
  const std::string detail = internal::CleanServerText(
      t.error[0] != '\0' ? t.error : curl_easy_strerror(code), t.secrets);
  switch (code) {
    case CURLE_OK:
      break;
    case CURLE_WRITE_ERROR:
      if (t.too_large) {
        return absl::InternalError(absl::StrCat(
            "token endpoint response is larger than ",
            internal::kMaxTokenEndpointResponseBytes, " bytes"));
      }
      return absl::InternalError(absl::StrCat("token endpoint: ", detail));
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(absl::StrCat(
          "token endpoint did not answer within ", absl::FormatDuration(timeout)));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
      return absl::UnavailableError(absl::StrCat(
          "token endpoint TLS handshake failed (certificates are verified; "
          "see HttpTokenRefresherOptions.ca_file): ",
          detail));
    default:
      return absl::UnavailableError(absl::StrCat("token endpoint unreachable: ", detail));
  }
  internal::HttpAnswer answer;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &answer.status);
  char* content_type = nullptr;
  curl_easy_getinfo(t.easy, CURLINFO_CONTENT_TYPE, &content_type);
  if (content_type != nullptr) answer.content_type = content_type;
  curl_header* retry_after = nullptr;
  if (curl_easy_header(t.easy, "Retry-After", 0, CURLH_HEADER, -1, &retry_after) ==
          CURLHE_OK &&
      retry_after != nullptr) {
    answer.retry_after = retry_after->value;
  }
  answer.body = std::move(t.response);
  return internal::InterpretTokenEndpointAnswer(answer, t.secrets, absl::Now());
}

// The worker: one exchange at a time, on libcurl's multi interface, so that
// the destructor can interrupt it (curl_multi_wakeup) at any point.
void Work(std::shared_ptr<Shared> shared) {
  std::unique_ptr<Transfer> active;
  for (;;) {
    std::optional<Shared::Job> job;
    {
      MutexLock lock(&shared->mu);
      if (shared->shutdown) break;
      job.swap(shared->next);
    }
    if (job && active != nullptr) {
      // The TokenManager never overlaps grants; refuse rather than drop.
      job->done(absl::FailedPreconditionError(
          "HttpTokenRefresher: a refresh is already in flight"));
    } else if (job) {
      absl::StatusOr<std::unique_ptr<Transfer>> t = StartTransfer(*shared, &*job);
      if (!t.ok()) {
        job->done(t.status());  // `job` was not moved from
      } else if (CURLMcode rc = curl_multi_add_handle(shared->multi, (*t)->easy);
                 rc != CURLM_OK) {
        (*t)->job.done(absl::ResourceExhaustedError(
            absl::StrCat("curl_multi_add_handle failed: ", curl_multi_strerror(rc))));
      } else {
        active = *std::move(t);
      }
    }
    int running = 0;
    curl_multi_perform(shared->multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(shared->multi, &queued)) {
      if (msg->msg != CURLMSG_DONE || active == nullptr || msg->easy_handle != active->easy) {
        continue;
      }
      absl::StatusOr<v1::TokenResponse> result = Finish(*active, msg->data.result, shared->options.timeout);
      curl_multi_remove_handle(shared->multi, active->easy);
      TokenRefresher::Done done = std::move(active->job.done);
      active.reset();
      done(std::move(result));  // no lock held; may call Refresh again
    }
    // Sleeps until a socket is ready, curl's own timer fires, or wakeup.
    curl_multi_poll(shared->multi, nullptr, 0, 60 * 1000, nullptr);
  }
  // Destroyed: abort the exchange in flight and any not yet started; each
  // callback still runs once.
  std::vector<TokenRefresher::Done> cancelled;
  if (active != nullptr) {
    curl_multi_remove_handle(shared->multi, active->easy);
    cancelled.push_back(std::move(active->job.done));
    active.reset();
  }
  {
    MutexLock lock(&shared->mu);
    if (shared->next) cancelled.push_back(std::move(shared->next->done));
    shared->next.reset();
  }
  for (TokenRefresher::Done& done : cancelled) {
    done(absl::CancelledError("HttpTokenRefresher destroyed during the refresh"));
  }
}

class HttpTokenRefresher final : public TokenRefresher {
 public:
  explicit HttpTokenRefresher(std::shared_ptr<Shared> shared)
      : shared_(std::move(shared)) {}

  ~HttpTokenRefresher() override {
    {
      MutexLock lock(&shared_->mu);
      shared_->shutdown = true;
    }
    curl_multi_wakeup(shared_->multi);
    if (worker_.joinable()) {
      // Destroyed from a callback on the worker itself: it exits on its own.
      if (worker_.get_id() == std::this_thread::get_id()) {
        worker_.detach();
      } else {
        worker_.join();
      }
    }
  }

  bool NeedsRefreshToken() const override {
    return shared_->options.grant == Options::Grant::kRefreshToken;
  }

  void Refresh(const GrantRequest& request, Done done) override {
    {
      MutexLock lock(&shared_->mu);
      if (!shared_->next) {
        shared_->next = Shared::Job{request, std::move(done)};
        done = nullptr;
      }
    }
    if (done) {
      done(absl::FailedPreconditionError(
          "HttpTokenRefresher: a refresh is already queued"));
      return;
    }
    // Refresh is never called concurrently with itself or the destructor,
    // but the worker can call it (from `done`) while the first call is still
    // here: call_once makes that second call wait for worker_ to be set.
    absl::call_once(worker_started_, [this] { worker_ = std::thread(Work, shared_); });
    curl_multi_wakeup(shared_->multi);
  }

 private:
  const std::shared_ptr<Shared> shared_;
  absl::once_flag worker_started_;
  std::thread worker_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TokenRefresher>> MakeHttpTokenRefresher(
    HttpTokenRefresherOptions options) {
  InitCurlOnce();
  absl::StatusOr<Prepared> prepared = Prepare(options);
  if (!prepared.ok()) return prepared.status();
  auto shared = std::make_shared<Shared>(std::move(options), *std::move(prepared));
  if (shared->multi == nullptr) {
    return absl::ResourceExhaustedError("curl_multi_init() failed");
  }
  return std::make_unique<HttpTokenRefresher>(std::move(shared));
}

}  // namespace authrefresh
