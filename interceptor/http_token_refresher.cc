#include "interceptor/http_token_refresher.h"

#include <curl/curl.h>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/strings/str_cat.h"
#include "interceptor/internal/dpop.h"
#include "interceptor/internal/grant_worker.h"
#include "interceptor/internal/http_options.h"
#include "interceptor/internal/oauth_http.h"
#include "interceptor/internal/token_request.h"
#include "interceptor/internal/token_response.h"

namespace authrefresh {
namespace {

using Options = HttpTokenRefresherOptions;

void InitCurlOnce() {
  static absl::once_flag once;
  absl::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// State the worker thread shares with the refresher; outlives either.
struct Shared {
  Shared(Options o, internal::PreparedTokenRequest p)
      : options(std::move(o)),
        prepared(std::move(p)),
        expected{options.dpop.key != nullptr ? options.dpop.key->thumbprint() : "",
                 options.dpop.accept_bearer},
        multi(curl_multi_init()),
        queue("HttpTokenRefresher", [this] { curl_multi_wakeup(multi); }) {}
  ~Shared() { curl_multi_cleanup(multi); }

  const Options options;
  const internal::PreparedTokenRequest prepared;
  const internal::ExpectedTokenType expected;  // Bearer, or DPoP bound to the key
  internal::DpopNonceCache nonces;             // the token endpoint's DPoP-Nonce
  CURLM* const multi;  // used by the worker; woken by anyone
  internal::GrantQueue queue;
};

// One HTTP exchange in flight.
struct Transfer {
  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  internal::GrantQueue::Job job;
  absl::Time sent_at;  // expires_in counts from here
  std::string form;
  std::vector<std::string> secrets;  // what the form carries, for scrubbing
  std::string dpop_header;           // "DPoP: <proof>", with a DPoP key
  std::string dpop_nonce;            // the nonce the proof carries
  bool nonce_retry = false;          // the second request, after use_dpop_nonce
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
// `nonce_retry`: the request answers a use_dpop_nonce challenge.
absl::StatusOr<std::unique_ptr<Transfer>> StartTransfer(Shared& shared,
                                                        internal::GrantQueue::Job* job,
                                                        bool nonce_retry) {
  const Options& o = shared.options;
  const absl::Time now = absl::Now();
  absl::StatusOr<internal::TokenRequestBody> body =
      internal::BuildTokenRequest(shared.prepared.spec, job->request, now);
  if (!body.ok()) return body.status();
  std::string dpop_nonce;
  std::string dpop_header;
  if (o.dpop.key != nullptr) {
    dpop_nonce = shared.nonces.Get(shared.prepared.dpop_origin);
    absl::StatusOr<std::string> proof = o.dpop.key->Proof(
        {.method = "POST", .uri = shared.prepared.dpop_htu, .issued_at = now, .nonce = dpop_nonce});
    if (!proof.ok()) return proof.status();
    dpop_header = absl::StrCat("DPoP: ", *proof);
  }
  auto t = std::make_unique<Transfer>();
  t->easy = curl_easy_init();
  if (t->easy == nullptr) return absl::ResourceExhaustedError("curl_easy_init() failed");
  // Moved only once nothing can fail, so that the caller can still answer.
  t->job = std::move(*job);
  t->sent_at = internal::RequestedAt(t->job.request);
  t->form = std::move(body->form);
  t->secrets = std::move(body->secrets);
  t->dpop_header = std::move(dpop_header);
  t->dpop_nonce = std::move(dpop_nonce);
  t->nonce_retry = nonce_retry;
  CURL* e = t->easy;
  t->headers = curl_slist_append(t->headers,
                                 "Content-Type: application/x-www-form-urlencoded");
  t->headers = curl_slist_append(t->headers, "Accept: application/json");
  t->headers = curl_slist_append(t->headers, "Expect:");
  if (!shared.prepared.authorization.empty()) {
    t->headers = curl_slist_append(t->headers, shared.prepared.authorization.c_str());
  }
  if (!t->dpop_header.empty()) t->headers = curl_slist_append(t->headers, t->dpop_header.c_str());
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

// What the exchange gave. `*retry` is set for a use_dpop_nonce challenge
// that is worth answering: the first one of the grant, with a nonce the
// request did not carry.
absl::StatusOr<Token> Finish(Shared& shared, Transfer& t, CURLcode code, bool* retry) {
  *retry = false;
  const absl::Duration timeout = shared.options.timeout;
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
  curl_header* nonce = nullptr;
  if (shared.options.dpop.key != nullptr &&
      curl_easy_header(t.easy, "DPoP-Nonce", 0, CURLH_HEADER, -1, &nonce) == CURLHE_OK &&
      nonce != nullptr) {
    answer.dpop_nonce = nonce->value;
    shared.nonces.Update(shared.prepared.dpop_origin, *answer.dpop_nonce);
  }
  answer.body = std::move(t.response);
  if (!t.nonce_retry && answer.dpop_nonce && *answer.dpop_nonce != t.dpop_nonce &&
      internal::IsValidDpopNonce(*answer.dpop_nonce) && internal::IsDpopNonceChallenge(answer)) {
    *retry = true;
  }
  return internal::InterpretTokenEndpointAnswer(answer, t.secrets, t.sent_at, absl::Now(),
                                                shared.expected);
}

// Starts the exchange for `job`; or answers it with why it cannot start, and
// returns null.
std::unique_ptr<Transfer> Launch(Shared& shared, internal::GrantQueue::Job* job,
                                 bool nonce_retry) {
  absl::StatusOr<std::unique_ptr<Transfer>> t = StartTransfer(shared, job, nonce_retry);
  if (!t.ok()) {
    job->done(t.status());  // `job` was not moved from
    return nullptr;
  }
  if (CURLMcode rc = curl_multi_add_handle(shared.multi, (*t)->easy); rc != CURLM_OK) {
    (*t)->job.done(absl::ResourceExhaustedError(
        absl::StrCat("curl_multi_add_handle failed: ", curl_multi_strerror(rc))));
    return nullptr;
  }
  return *std::move(t);
}

// The worker: one exchange at a time, on libcurl's multi interface, so that
// the destructor can interrupt it (curl_multi_wakeup) at any point.
void Work(std::shared_ptr<Shared> shared) {
  std::unique_ptr<Transfer> active;
  while (!shared->queue.stopping()) {
    std::optional<internal::GrantQueue::Job> job = shared->queue.Take();
    if (job && active != nullptr) {
      // The TokenManager never overlaps grants; refuse rather than drop
      // (INTERNAL: transient).
      job->done(absl::InternalError("HttpTokenRefresher: a refresh is already in flight"));
    } else if (job) {
      active = Launch(*shared, &*job, /*nonce_retry=*/false);
    }
    int running = 0;
    curl_multi_perform(shared->multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(shared->multi, &queued)) {
      if (msg->msg != CURLMSG_DONE || active == nullptr || msg->easy_handle != active->easy) {
        continue;
      }
      bool retry = false;
      absl::StatusOr<Token> result = Finish(*shared, *active, msg->data.result, &retry);
      curl_multi_remove_handle(shared->multi, active->easy);
      if (retry) {
        // RFC 9449 section 8: the same grant once more, with the nonce.
        internal::GrantQueue::Job again = std::move(active->job);
        active.reset();
        active = Launch(*shared, &again, /*nonce_retry=*/true);
        continue;
      }
      TokenRefresher::Done done = std::move(active->job.done);
      active.reset();
      done(std::move(result));  // no lock held; may call Refresh again
    }
    // Sleeps until a socket is ready, curl's own timer fires, or wakeup.
    curl_multi_poll(shared->multi, nullptr, 0, 60 * 1000, nullptr);
  }
  // Destroyed: abort the exchange in flight; its callback still runs once.
  if (active != nullptr) {
    curl_multi_remove_handle(shared->multi, active->easy);
    TokenRefresher::Done done = std::move(active->job.done);
    active.reset();
    done(absl::CancelledError("HttpTokenRefresher destroyed during the refresh"));
  }
}

class HttpTokenRefresher final : public TokenRefresher {
 public:
  explicit HttpTokenRefresher(std::shared_ptr<Shared> shared)
      : shared_(std::move(shared)) {}

  // Interrupts the exchange in flight (curl_multi_wakeup) and joins the
  // worker without waiting on the network.
  ~HttpTokenRefresher() override {
    std::optional<internal::GrantQueue::Job> unstarted = shared_->queue.Stop();
    worker_.Join();
    if (unstarted) {
      unstarted->done(absl::CancelledError("HttpTokenRefresher destroyed during the refresh"));
    }
  }

  bool NeedsRefreshToken() const override {
    return shared_->options.grant == Options::Grant::kRefreshToken;
  }

  std::shared_ptr<const DpopKey> dpop_key() const override { return shared_->options.dpop.key; }

  void Refresh(const GrantRequest& request, Done done) override {
    shared_->queue.Submit(request, std::move(done));
    worker_.StartOnce([shared = shared_] { Work(shared); });
  }

 private:
  const std::shared_ptr<Shared> shared_;
  internal::WorkerThread worker_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TokenRefresher>> MakeHttpTokenRefresher(
    HttpTokenRefresherOptions options) {
  InitCurlOnce();
  absl::StatusOr<internal::PreparedTokenRequest> prepared =
      internal::PrepareTokenRequest(options);
  if (!prepared.ok()) return prepared.status();
  auto shared = std::make_shared<Shared>(std::move(options), *std::move(prepared));
  if (shared->multi == nullptr) {
    return absl::ResourceExhaustedError("curl_multi_init() failed");
  }
  return std::make_unique<HttpTokenRefresher>(std::move(shared));
}

}  // namespace authrefresh
