#include "interceptor/http_token_refresher.h"

#include <curl/curl.h>

#include <fstream>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/internal/oauth_http.h"

namespace authrefresh {
namespace {

using internal::Mutex;
using internal::MutexLock;
using Options = HttpTokenRefresherOptions;

void InitCurlOnce() {
  static absl::once_flag once;
  absl::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// application/x-www-form-urlencoded value encoding, by libcurl.
std::string FormEncode(const std::string& value) {
  char* escaped = curl_easy_escape(nullptr, value.data(), static_cast<int>(value.size()));
  std::string out = escaped ? escaped : "";
  curl_free(escaped);
  return out;
}

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

absl::Status CheckOptions(const Options& o) {
  absl::StatusOr<std::string> scheme = CheckEndpoint(o.token_endpoint);
  if (!scheme.ok()) return scheme.status();
  if (*scheme == "http" && !o.allow_insecure_http) {
    return absl::InvalidArgumentError(
        "refusing the http:// token endpoint: the refresh token and client "
        "secret would travel in cleartext. Use https://, or set "
        "HttpTokenRefresherOptions.allow_insecure_http for a loopback test");
  }
  if (o.client_id.empty()) {
    return absl::InvalidArgumentError("HttpTokenRefresherOptions.client_id is empty");
  }
  const bool confidential = o.client_auth != Options::ClientAuth::kNone;
  if (confidential && o.client_secret.empty()) {
    return absl::InvalidArgumentError(
        "HttpTokenRefresherOptions.client_secret is empty; a public client "
        "sets client_auth = ClientAuth::kNone");
  }
  if (!confidential && !o.client_secret.empty()) {
    return absl::InvalidArgumentError(
        "HttpTokenRefresherOptions.client_secret is set but client_auth is "
        "kNone; choose kClientSecretBasic or kClientSecretPost");
  }
  if (o.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HttpTokenRefresherOptions.timeout must be positive");
  }
  if (!o.ca_file.empty() && !o.ca_pem.empty()) {
    return absl::InvalidArgumentError(
        "HttpTokenRefresherOptions: set ca_file or ca_pem, not both");
  }
  if (!o.ca_file.empty() && !std::ifstream(o.ca_file).good()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HttpTokenRefresherOptions.ca_file cannot be read: ", o.ca_file));
  }
  for (const auto& [name, value] : o.extra_parameters) {
    if (name.empty() || name == "grant_type" || name == "refresh_token" ||
        name == "client_id" || name == "client_secret" || name == "scope") {
      return absl::InvalidArgumentError(absl::StrCat(
          "HttpTokenRefresherOptions.extra_parameters may not set \"", name,
          "\"; it is set by the refresher"));
    }
  }
  return absl::OkStatus();
}

// State the worker thread shares with the refresher; outlives either.
struct Shared {
  Shared(Options o, std::string basic_auth)
      : options(std::move(o)), authorization(std::move(basic_auth)),
        multi(curl_multi_init()) {}
  ~Shared() { curl_multi_cleanup(multi); }

  struct Job {
    std::string refresh_token;
    TokenRefresher::Done done;
  };

  const Options options;
  const std::string authorization;  // "Authorization: Basic ..." or empty
  CURLM* const multi;               // used by the worker; wakeup by anyone

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

std::unique_ptr<Transfer> Prepare(const Shared& shared, Shared::Job job) {
  const Options& o = shared.options;
  auto t = std::make_unique<Transfer>();
  t->job = std::move(job);
  t->form = absl::StrCat("grant_type=refresh_token&refresh_token=",
                         FormEncode(t->job.refresh_token));
  if (!o.scope.empty()) absl::StrAppend(&t->form, "&scope=", FormEncode(o.scope));
  if (o.client_auth != Options::ClientAuth::kClientSecretBasic) {
    absl::StrAppend(&t->form, "&client_id=", FormEncode(o.client_id));
  }
  if (o.client_auth == Options::ClientAuth::kClientSecretPost) {
    absl::StrAppend(&t->form, "&client_secret=", FormEncode(o.client_secret));
  }
  for (const auto& [name, value] : o.extra_parameters) {
    absl::StrAppend(&t->form, "&", FormEncode(name), "=", FormEncode(value));
  }

  t->easy = curl_easy_init();
  if (t->easy == nullptr) return t;
  CURL* e = t->easy;
  t->headers = curl_slist_append(t->headers,
                                 "Content-Type: application/x-www-form-urlencoded");
  t->headers = curl_slist_append(t->headers, "Accept: application/json");
  t->headers = curl_slist_append(t->headers, "Expect:");
  if (!shared.authorization.empty()) {
    t->headers = curl_slist_append(t->headers, shared.authorization.c_str());
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
  return t;
}

absl::StatusOr<v1::TokenResponse> Finish(Transfer& t, CURLcode code,
                                         absl::Duration timeout) {
  const std::string detail = internal::CleanServerText(
      t.error[0] != '\0' ? t.error : curl_easy_strerror(code), t.job.refresh_token);
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
  return internal::InterpretTokenEndpointAnswer(answer, t.job.refresh_token,
                                                absl::Now());
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
    if (job) {
      std::unique_ptr<Transfer> t = Prepare(*shared, std::move(*job));
      if (t->easy == nullptr) {
        t->job.done(absl::ResourceExhaustedError("curl_easy_init() failed"));
      } else if (active != nullptr) {
        // The TokenManager never overlaps grants; refuse rather than drop.
        t->job.done(absl::FailedPreconditionError(
            "HttpTokenRefresher: a refresh is already in flight"));
      } else {
        curl_multi_add_handle(shared->multi, t->easy);
        active = std::move(t);
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

  void Refresh(const std::string& refresh_token, Done done) override {
    {
      MutexLock lock(&shared_->mu);
      if (!shared_->next) {
        shared_->next = Shared::Job{refresh_token, std::move(done)};
        done = nullptr;
      }
    }
    if (done) {
      done(absl::FailedPreconditionError(
          "HttpTokenRefresher: a refresh is already queued"));
      return;
    }
    // Refresh is never called concurrently with itself or the destructor.
    if (!worker_.joinable()) worker_ = std::thread(Work, shared_);
    curl_multi_wakeup(shared_->multi);
  }

 private:
  const std::shared_ptr<Shared> shared_;
  std::thread worker_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TokenRefresher>> MakeHttpTokenRefresher(
    HttpTokenRefresherOptions options) {
  InitCurlOnce();
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  std::string authorization;
  if (options.client_auth == Options::ClientAuth::kClientSecretBasic) {
    authorization = absl::StrCat(
        "Authorization: Basic ",
        absl::Base64Escape(absl::StrCat(FormEncode(options.client_id), ":",
                                        FormEncode(options.client_secret))));
  }
  auto shared = std::make_shared<Shared>(std::move(options), std::move(authorization));
  if (shared->multi == nullptr) {
    return absl::ResourceExhaustedError("curl_multi_init() failed");
  }
  return std::make_unique<HttpTokenRefresher>(std::move(shared));
}

}  // namespace authrefresh
