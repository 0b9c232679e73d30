// MakeSharedTokenRefresher: the cross-process protocol of shared_token.h,
// run on one worker thread per refresher.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/call_once.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/internal/token_response.h"
#include "interceptor/shared_token.h"

namespace authrefresh {
namespace {

using internal::Mutex;
using internal::MutexLock;
using Options = SharedTokenRefresherOptions;

// An adopted token must have at least this long left; a shorter one is
// treated as the one to replace.
constexpr absl::Duration kMinAdoptableLifetime = absl::Seconds(1);

std::string DefaultOwnerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::random_device random;
  const uint64_t nonce = (static_cast<uint64_t>(random()) << 32) ^ random();
  return absl::StrCat(host[0] != '\0' ? host : "host", ":", getpid(), ":", absl::Hex(nonce));
}

// The TokenResponse that hands `token` to a TokenManager.
v1::TokenResponse ResponseOf(const Token& token, absl::Time now) {
  v1::TokenResponse r;
  r.set_access_token(token.access_token);
  r.set_token_type("Bearer");
  r.set_refresh_token(token.refresh_token);
  r.set_scope(token.scope);
  if (token.expires_at != absl::InfiniteFuture()) {
    // Rounded down, so the manager never believes in a token longer than
    // the record does; at least 1 (0 would mean "never expires").
    r.set_expires_in(std::max<int64_t>(
        1, static_cast<int64_t>(std::floor(absl::ToDoubleSeconds(token.expires_at - now)))));
  }
  return r;
}

// A backend failure as the TokenManager sees it: a refused password or a
// wrong encryption key (PERMISSION_DENIED, FAILED_PRECONDITION) is a
// misconfiguration, terminal like a rejected client; anything else is
// transient and retried with backoff.
absl::Status BackendError(const absl::Status& s) {
  const bool misconfigured = s.code() == absl::StatusCode::kPermissionDenied ||
                             s.code() == absl::StatusCode::kFailedPrecondition;
  return absl::Status(
      misconfigured ? absl::StatusCode::kFailedPrecondition : absl::StatusCode::kUnavailable,
      absl::StrCat("shared token backend: ", absl::StatusCodeToString(s.code()), ": ",
                   s.message()));
}

struct Job {
  GrantRequest request;
  TokenRefresher::Done done;
};

// What the worker shares with the refresher and with the inner refresher's
// callbacks; outlives all of them.
struct State {
  State(TokenRefresher* i, std::shared_ptr<SharedTokenBackend> b, Options o)
      : inner(i), backend(std::move(b)), options(std::move(o)) {}

  TokenRefresher* const inner;  // owned by the refresher; outlives the worker
  const std::shared_ptr<SharedTokenBackend> backend;
  const Options options;

  Mutex mu;
  absl::CondVar changed;  // next, shutdown or grant_result changed
  std::optional<Job> next ABSL_GUARDED_BY(mu);
  bool shutdown ABSL_GUARDED_BY(mu) = false;
  // The inner grant in flight: its id, and its result once it arrives.
  uint64_t grant_id ABSL_GUARDED_BY(mu) = 0;
  std::optional<absl::StatusOr<v1::TokenResponse>> grant_result ABSL_GUARDED_BY(mu);
};

// The protocol. Used by the worker thread only.
class Protocol {
 public:
  explicit Protocol(std::shared_ptr<State> state) : s_(std::move(state)) {}

  absl::StatusOr<v1::TokenResponse> Serve(const GrantRequest& request) {
    if (!FlushPendingWrite()) {
      // The shared record is older than this replica's token and its
      // refresh token may be rotated out: neither adopt it nor grant from
      // it until the newer record is written.
      return Unreachable(absl::UnavailableError(
                             "a record this replica made is not written yet"),
                         request);
    }
    const absl::Time give_up = absl::Now() + s_->options.max_wait;
    for (;;) {
      if (ShuttingDown()) return Cancelled();
      absl::StatusOr<SharedRecord> record = Read();
      if (!record.ok()) return Unreachable(record.status(), request);
      if (Adoptable(*record, request)) return Adopt(*record, "adopted");
      absl::StatusOr<bool> taken =
          s_->backend->TryAcquireLease(s_->options.owner_id, s_->options.lease_ttl);
      if (!taken.ok()) return Unreachable(taken.status(), request);
      if (*taken) return GrantUnderLease(request);
      const absl::Time now = absl::Now();
      if (now >= give_up) {
        return absl::UnavailableError(absl::StrCat(
            "authrefresh: waited ", absl::FormatDuration(s_->options.max_wait),
            " for another replica's refresh (it holds the shared lease)"));
      }
      Log(absl::StrCat("another replica holds the lease; waiting for generation > ",
                       record->generation));
      const absl::Duration step = std::min(s_->options.wait_step, give_up - now);
      absl::Status waited = s_->backend->WaitForChange(record->generation, step);
      if (!waited.ok()) {
        // Only the wait failed (a notification connection, say): not an
        // outage while reads work. Pace the next look instead; the next
        // Read decides.
        Log(absl::StrCat("waiting failed (", waited.message(), "); looking again"));
        absl::SleepFor(step);
      }
    }
  }

  // A record this replica made while it could not write it: written now if
  // nobody else wrote since, else dropped (the newer record wins; this
  // replica adopts it). False while it still cannot be written.
  bool FlushPendingWrite() {
    if (!pending_) return true;
    absl::StatusOr<bool> written =
        s_->backend->CompareAndSwap(pending_->expected, pending_->record);
    if (written.ok() && !*written) {
      // Refused. A record older than the one this replica replaced (none at
      // all, after a Redis restart without persistence) means the backend
      // lost data: this replica's record is the newest there is.
      absl::StatusOr<SharedRecord> now = s_->backend->Read();
      if (!now.ok()) return false;
      if (now->generation < pending_->expected) {
        SharedRecord mine = pending_->record;
        mine.generation = now->generation + 1;
        written = s_->backend->CompareAndSwap(now->generation, mine);
      }
    }
    if (!written.ok()) return false;  // still unreachable: keep it
    Log(*written ? absl::StrCat("wrote pending generation ", pending_->record.generation)
                 : std::string("dropped a pending record: another replica wrote first"));
    pending_.reset();
    Release();  // held since the write failed, if it has not run out
    return true;
  }

  bool HasPending() const { return pending_.has_value(); }

 private:
  bool ShuttingDown() {
    MutexLock lock(&s_->mu);
    return s_->shutdown;
  }
  static absl::Status Cancelled() {
    return absl::CancelledError("shared token refresher destroyed during the refresh");
  }
  void Log(absl::string_view line) {
    if (s_->options.debug_log) s_->options.debug_log(line);
  }

  absl::StatusOr<SharedRecord> Read() {
    absl::StatusOr<SharedRecord> r = s_->backend->Read();
    if (r.ok()) known_generation_ = r->generation;
    return r;
  }

  // A record this replica should use instead of making a grant: a token
  // other than the one the manager wants replaced, with time left.
  static bool Adoptable(const SharedRecord& r, const GrantRequest& request) {
    return r.generation > 0 && !r.token.access_token.empty() &&
           r.token.access_token != request.access_token &&
           r.token.expires_at > absl::Now() + kMinAdoptableLifetime;
  }

  absl::StatusOr<v1::TokenResponse> Adopt(const SharedRecord& r, absl::string_view how) {
    Log(absl::StrCat(how, " generation ", r.generation, ": access token ",
                     TokenFingerprint(r.token.access_token), " (no grant)"));
    return ResponseOf(r.token, absl::Now());
  }

  void Release() {
    absl::Status s = s_->backend->ReleaseLease(s_->options.owner_id);
    if (!s.ok()) {
      // The lease then ends at its ttl; nothing else depends on it.
      Log(absl::StrCat("releasing the lease failed (it expires on its own): ", s.message()));
    }
  }

  absl::StatusOr<v1::TokenResponse> GrantUnderLease(const GrantRequest& request) {
    // Re-read after taking the lease: another replica may have written
    // between our first read and the lease.
    absl::StatusOr<SharedRecord> record = Read();
    if (!record.ok()) {
      Release();
      return Unreachable(record.status(), request);
    }
    if (Adoptable(*record, request)) {
      Release();
      return Adopt(*record, "after taking the lease, adopted");
    }
    GrantRequest grant = request;
    if (record->generation > 0 && s_->inner->NeedsRefreshToken()) {
      // The shared record's refresh token, never one this replica read
      // before another rotated it.
      grant.refresh_token = record->token.refresh_token;
    }
    Log(absl::StrCat("lease taken; granting to replace generation ", record->generation));
    const absl::Time sent_at = absl::Now();
    absl::StatusOr<v1::TokenResponse> response = RunInner(grant);
    if (!response.ok()) {
      Release();
      return response.status();
    }
    Token previous;
    previous.refresh_token = grant.refresh_token;
    previous.scope = record->token.scope;
    absl::StatusOr<Token> token = internal::TokenFromResponse(*response, sent_at, previous);
    if (!token.ok()) {
      // Malformed: the TokenManager reports it (transient); nothing shared.
      Release();
      return response;
    }
    const SharedRecord next{record->generation + 1, *token};
    absl::StatusOr<bool> written = WriteHoldingTheLease(record->generation, next);
    if (!written.ok()) {
      // The grant succeeded: its token (and a rotated refresh token) must
      // not be lost. Use it here and write it when the backend is back; keep
      // the lease meanwhile (it runs out at its ttl), so that no other
      // replica grants from the older record right away.
      pending_ = PendingWrite{record->generation, next};
      Log(absl::StrCat("writing generation ", next.generation,
                       " failed; using it here and writing it later: ", written.status().message()));
      return Mine(*std::move(response), next);
    }
    if (!*written) {
      // Only when this replica's lease ran out during the grant and another
      // replica wrote: the fence keeps its newer record.
      Log(absl::StrCat("generation ", record->generation,
                       " was replaced while this replica's lease had run out; the newer "
                       "record stays, this replica uses its own token until its next refresh"));
    } else {
      Log(absl::StrCat("wrote generation ", next.generation, ": access token ",
                       TokenFingerprint(next.token.access_token)));
    }
    Release();
    return Mine(*std::move(response), next);
  }

  // The token service's own answer (its expires_in is exact; a record's
  // remaining lifetime is whole seconds rounded down), with the refresh
  // token the grant kept when the answer did not rotate it.
  static v1::TokenResponse Mine(v1::TokenResponse response, const SharedRecord& next) {
    response.set_refresh_token(next.token.refresh_token);
    return response;
  }

  // CompareAndSwap, tried again while the backend fails and for at most
  // half the lease (renewing it), since a token service already rotated
  // the refresh token. A retry that finds its own earlier attempt written
  // (the reply was lost) counts as written.
  absl::StatusOr<bool> WriteHoldingTheLease(uint64_t expected, const SharedRecord& next) {
    const absl::Time give_up = absl::Now() + s_->options.lease_ttl / 2;
    absl::Duration pause = absl::Milliseconds(20);
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<bool> written = s_->backend->CompareAndSwap(expected, next);
      if (written.ok() && *written) return true;
      if (written.ok() || attempt > 0) {
        // Refused: by another writer, or by our own write of a retried
        // attempt. The record says which.
        absl::StatusOr<SharedRecord> now = s_->backend->Read();
        if (now.ok() && now->generation == next.generation &&
            now->token.access_token == next.token.access_token) {
          return true;
        }
        if (written.ok()) return false;
      }
      if (absl::Now() + pause >= give_up) return written.status();
      absl::SleepFor(pause);  // paces the retries of a failing backend
      pause = std::min(pause * 2, absl::Seconds(1));
      (void)s_->backend->TryAcquireLease(s_->options.owner_id, s_->options.lease_ttl);
    }
  }

  absl::StatusOr<v1::TokenResponse> RunInner(const GrantRequest& grant) {
    uint64_t id;
    {
      MutexLock lock(&s_->mu);
      id = ++s_->grant_id;
      s_->grant_result.reset();
    }
    std::weak_ptr<State> weak = s_;
    s_->inner->Refresh(grant, [weak, id](absl::StatusOr<v1::TokenResponse> r) {
      std::shared_ptr<State> state = weak.lock();
      if (state == nullptr) return;
      MutexLock lock(&state->mu);
      if (state->grant_id == id) {
        state->grant_result = std::move(r);
        state->changed.SignalAll();
      }
    });
    // Destroying the refresher does not abandon a grant in flight at once:
    // the token service may already have rotated the refresh token, so its
    // answer is awaited (for at most lease_ttl) and written.
    MutexLock lock(&s_->mu);
    std::optional<absl::Time> stop_waiting;
    while (!s_->grant_result.has_value()) {
      if (s_->shutdown) {
        if (!stop_waiting) {
          stop_waiting = absl::Now() + s_->options.lease_ttl;
          if (s_->options.debug_log) {
            s_->options.debug_log("destroyed during a grant: waiting for it (at most lease_ttl)");
          }
        }
        if (absl::Now() >= *stop_waiting) break;
        s_->mu.WaitWithDeadline(&s_->changed, *stop_waiting);
      } else {
        s_->mu.Wait(&s_->changed);
      }
    }
    if (!s_->grant_result.has_value()) return Cancelled();
    absl::StatusOr<v1::TokenResponse> result = std::move(*s_->grant_result);
    s_->grant_result.reset();
    return result;
  }

  absl::StatusOr<v1::TokenResponse> Unreachable(const absl::Status& error,
                                                const GrantRequest& request) {
    if (error.code() != absl::StatusCode::kUnavailable ||
        s_->options.when_unavailable == Options::WhenUnavailable::kWait) {
      return BackendError(error);
    }
    Log(absl::StrCat("backend unreachable (", error.message(),
                     "); granting locally, to be written when it is back"));
    const absl::Time sent_at = absl::Now();
    absl::StatusOr<v1::TokenResponse> response = RunInner(request);
    if (!response.ok()) return response;
    Token previous;
    previous.refresh_token = request.refresh_token;
    if (absl::StatusOr<Token> token = internal::TokenFromResponse(*response, sent_at, previous);
        token.ok()) {
      // Still expected to replace the record this replica last saw written.
      const uint64_t expected = pending_ ? pending_->expected : known_generation_;
      pending_ = PendingWrite{expected, SharedRecord{expected + 1, *std::move(token)}};
    }
    return response;
  }



  struct PendingWrite {
    uint64_t expected;
    SharedRecord record;
  };

  const std::shared_ptr<State> s_;
  uint64_t known_generation_ = 0;
  std::optional<PendingWrite> pending_;
};

void Work(std::shared_ptr<State> state) {
  Protocol protocol(state);
  for (;;) {
    std::optional<Job> job;
    bool flush = false;
    bool shutting_down = false;
    {
      MutexLock lock(&state->mu);
      // A record not yet written is retried every wait_step, without
      // waiting for this replica's next refresh: the others must not grant
      // from the older record.
      const absl::Time retry_at = protocol.HasPending()
                                      ? absl::Now() + state->options.wait_step
                                      : absl::InfiniteFuture();
      while (!state->next.has_value() && !state->shutdown && !flush) {
        flush = state->mu.WaitWithDeadline(&state->changed, retry_at);
      }
      shutting_down = state->shutdown;
      job.swap(state->next);
    }
    if (!job) {
      protocol.FlushPendingWrite();  // the periodic retry, or a last one
      if (shutting_down) return;
      continue;
    }
    absl::StatusOr<v1::TokenResponse> result = protocol.Serve(job->request);
    job->done(std::move(result));  // no lock held; may call Refresh again
  }
}

class SharedTokenRefresher final : public TokenRefresher {
 public:
  SharedTokenRefresher(std::unique_ptr<TokenRefresher> inner,
                       std::shared_ptr<SharedTokenBackend> backend, Options options)
      : inner_(std::move(inner)),
        state_(std::make_shared<State>(inner_.get(), std::move(backend), std::move(options))) {}

  ~SharedTokenRefresher() override {
    std::optional<Job> unserved;
    {
      MutexLock lock(&state_->mu);
      state_->shutdown = true;
      unserved.swap(state_->next);
      state_->changed.SignalAll();
    }
    if (worker_.joinable()) {
      if (worker_.get_id() == std::this_thread::get_id()) {
        worker_.detach();  // destroyed from a callback on the worker itself
      } else {
        worker_.join();  // at most one backend call (bounded by its timeouts)
      }
    }
    if (unserved) unserved->done(absl::CancelledError("shared token refresher destroyed"));
    // inner_ is destroyed last: its grant in flight, if any, is cancelled and
    // its callback finds the state without a waiter.
  }

  bool NeedsRefreshToken() const override { return inner_->NeedsRefreshToken(); }

  void Refresh(const GrantRequest& request, Done done) override {
    {
      MutexLock lock(&state_->mu);
      if (!state_->next) {
        state_->next = Job{request, std::move(done)};
        done = nullptr;
        state_->changed.SignalAll();
      }
    }
    if (done) {
      done(absl::FailedPreconditionError("shared token refresher: a refresh is already queued"));
      return;
    }
    // The worker may call Refresh (from `done`) while the first call is
    // still here: call_once makes it wait until worker_ is set.
    absl::call_once(started_, [this] { worker_ = std::thread(Work, state_); });
  }

 private:
  const std::unique_ptr<TokenRefresher> inner_;
  const std::shared_ptr<State> state_;
  absl::once_flag started_;
  std::thread worker_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TokenRefresher>> MakeSharedTokenRefresher(
    std::unique_ptr<TokenRefresher> inner, std::shared_ptr<SharedTokenBackend> backend,
    SharedTokenRefresherOptions options) {
  if (inner == nullptr) {
    return absl::InvalidArgumentError("MakeSharedTokenRefresher: the inner refresher is null");
  }
  if (backend == nullptr) {
    return absl::InvalidArgumentError("MakeSharedTokenRefresher: the backend is null");
  }
  if (options.lease_ttl <= absl::ZeroDuration() || options.wait_step <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "SharedTokenRefresherOptions: lease_ttl and wait_step must be positive");
  }
  if (options.max_wait <= options.lease_ttl) {
    return absl::InvalidArgumentError(
        "SharedTokenRefresherOptions.max_wait must exceed lease_ttl, so that a dead "
        "holder's lease can run out while the others wait");
  }
  if (options.owner_id.empty()) options.owner_id = DefaultOwnerId();
  return std::make_unique<SharedTokenRefresher>(std::move(inner), std::move(backend),
                                                std::move(options));
}

}  // namespace authrefresh
