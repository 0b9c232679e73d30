#include "interceptor/internal/shared_protocol.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "interceptor/internal/clock_wait.h"
#include "interceptor/internal/failure_part.h"
#include "interceptor/internal/token_response.h"

namespace authrefresh {
namespace internal {

using Options = SharedTokenRefresherOptions;

absl::Status SharedBackendError(const absl::Status& s) {
  const bool misconfigured = s.code() == absl::StatusCode::kPermissionDenied ||
                             s.code() == absl::StatusCode::kFailedPrecondition;
  return WithFailurePart(
      absl::Status(
          misconfigured ? absl::StatusCode::kFailedPrecondition : absl::StatusCode::kUnavailable,
          absl::StrCat("shared token backend: ", absl::StatusCodeToString(s.code()), ": ",
                       s.message())),
      FailurePart::kSharedBackend);
}

SharedProtocol::SharedProtocol(std::shared_ptr<SharedTokenBackend> backend, Options options,
                               std::shared_ptr<Clock> clock, bool needs_refresh_token,
                               Grant grant, Stopping stopping, std::string dpop_jkt)
    : backend_(std::move(backend)),
      options_(std::move(options)),
      clock_(std::move(clock)),
      needs_refresh_token_(needs_refresh_token),
      grant_(std::move(grant)),
      stopping_(std::move(stopping)),
      dpop_jkt_(std::move(dpop_jkt)),
      metrics_(options_.metrics) {}

absl::StatusOr<Token> SharedProtocol::Serve(const GrantRequest& request) {
  serving_unreachable_ = false;
  absl::StatusOr<Token> result = ServeOnce(request);
  EndLeaseWait();
  // Any other end (a token, the token service's answer, a misconfigured
  // backend) ends the outage.
  if (!serving_unreachable_) unreachable_since_.reset();
  return result;
}

absl::StatusOr<Token> SharedProtocol::ServeOnce(const GrantRequest& request) {
  if (!FlushPendingWrite()) {
    // The shared record is older than this replica's token and its refresh
    // token may be rotated out: neither adopt it nor grant from it until the
    // newer record is written.
    return Unreachable(absl::UnavailableError("a record this replica made is not written yet"),
                       request);
  }
  const absl::Time give_up = clock_->Now() + options_.max_wait;
  for (;;) {
    if (stopping_()) {
      return absl::CancelledError("shared token refresher destroyed during the refresh");
    }
    absl::StatusOr<SharedRecord> record = Read();
    if (!record.ok()) return Unreachable(record.status(), request);
    if (absl::Status s = CheckDpopKey(*record); !s.ok()) return s;
    if (Adoptable(*record, request)) return Adopt(*record, "adopted");
    absl::StatusOr<bool> taken = backend_->TryAcquireLease(options_.owner_id, options_.lease_ttl);
    if (!taken.ok()) return Unreachable(taken.status(), request);
    if (*taken) {
      EndLeaseWait();  // here, not after this replica's own grant
      return GrantUnderLease(request);
    }
    const absl::Time now = clock_->Now();
    if (now >= give_up) {
      return WithFailurePart(
          absl::UnavailableError(absl::StrCat(
              "authrefresh: waited ", absl::FormatDuration(options_.max_wait),
              " for another replica's refresh (it holds the shared lease)")),
          FailurePart::kSharedBackend);
    }
    if (!lease_wait_began_) lease_wait_began_ = now;
    Log(absl::StrCat("another replica holds the lease; waiting for generation > ",
                     record->generation));
    const absl::Duration step = std::min(options_.wait_step, give_up - now);
    absl::Status waited = backend_->WaitForChange(record->generation, step);
    if (!waited.ok()) {
      // Only the wait failed (a notification connection, say): not an outage
      // while reads work. Pace the next look instead; the next Read decides.
      Log(absl::StrCat("waiting failed (", waited.message(), "); looking again"));
      SleepUntil(*clock_, now + step);
    }
  }
}

bool SharedProtocol::FlushPendingWrite() {
  if (!pending_) return true;
  absl::StatusOr<bool> written = backend_->CompareAndSwap(pending_->expected, pending_->record);
  if (written.ok() && !*written) {
    // Refused. A record older than the one this replica replaced (none at
    // all, after a Redis restart without persistence) means the backend lost
    // data: this replica's record is the newest there is.
    absl::StatusOr<SharedRecord> now = backend_->Read();
    if (!now.ok()) return false;
    if (now->generation < pending_->expected) {
      SharedRecord mine = pending_->record;
      mine.generation = now->generation + 1;
      written = backend_->CompareAndSwap(now->generation, mine);
    }
  }
  if (!written.ok()) return false;  // still unreachable: keep it
  Log(*written ? absl::StrCat("wrote pending generation ", pending_->record.generation)
               : std::string("dropped a pending record: another replica wrote first"));
  pending_.reset();
  Release();  // held since the write failed, if it has not run out
  return true;
}

void SharedProtocol::EndLeaseWait() {
  if (!lease_wait_began_) return;
  metrics_.LeaseWaited(clock_->Now() - *lease_wait_began_);
  lease_wait_began_.reset();
}

void SharedProtocol::Log(absl::string_view line) const {
  if (options_.debug_log) options_.debug_log(line);
}

absl::StatusOr<SharedRecord> SharedProtocol::Read() {
  absl::StatusOr<SharedRecord> r = backend_->Read();
  if (r.ok()) known_generation_ = r->generation;
  return r;
}

// A token other than the one the manager wants replaced, with time left.
bool SharedProtocol::Adoptable(const SharedRecord& r, const GrantRequest& request) {
  return r.generation > 0 && !r.token.access_token.empty() &&
         r.token.access_token != request.access_token &&
         r.token.expires_at > clock_->Now() + kMinAdoptableLifetime;
}

absl::Status SharedProtocol::CheckDpopKey(const SharedRecord& r) const {
  if (r.generation == 0 || r.token.dpop_jkt == dpop_jkt_) return absl::OkStatus();
  auto key = [](const std::string& jkt) {
    return jkt.empty() ? std::string("no DPoP key (bearer tokens)")
                       : absl::StrCat("DPoP key ", jkt);
  };
  return WithFailurePart(
      absl::FailedPreconditionError(absl::StrCat(
          "the shared token record (generation ", r.generation, ") holds a token bound to ",
          key(r.token.dpop_jkt), ", and this replica's refresher has ", key(dpop_jkt_),
          ": replicas that share a credential must load the same DpopKey "
          "(HttpTokenRefresherOptions::dpop.key from one key file)")),
      FailurePart::kSharedBackend);
}

// The record's token exactly as its grant made it: its expiry and issue time
// to the millisecond, so an adopting replica refreshes when the granting one
// does.
absl::StatusOr<Token> SharedProtocol::Adopt(const SharedRecord& r, absl::string_view how) {
  Log(absl::StrCat(how, " generation ", r.generation, ": access token ",
                   TokenFingerprint(r.token.access_token), " (no grant)"));
  metrics_.Adopted();
  return r.token;
}

void SharedProtocol::Release() {
  absl::Status s = backend_->ReleaseLease(options_.owner_id);
  if (!s.ok()) {
    // The lease then ends at its ttl; nothing else depends on it.
    Log(absl::StrCat("releasing the lease failed (it expires on its own): ", s.message()));
  }
}

absl::StatusOr<Token> SharedProtocol::RunGrant(const GrantRequest& grant,
                                               const Token& previous) {
  GrantRequest now = grant;
  now.requested_at = clock_->Now();  // not when this replica began to wait
  absl::StatusOr<Token> granted = grant_(now);
  if (!granted.ok()) return granted;
  Token token = WithKeptFields(*std::move(granted), previous);
  // Malformed: the TokenManager reports it (transient); nothing is shared.
  if (absl::Status checked = CheckGrantedToken(token); !checked.ok()) return checked;
  return token;
}

absl::StatusOr<Token> SharedProtocol::GrantUnderLease(const GrantRequest& request) {
  // Re-read after taking the lease: another replica may have written between
  // our first read and the lease.
  absl::StatusOr<SharedRecord> record = Read();
  if (!record.ok()) {
    Release();
    return Unreachable(record.status(), request);
  }
  if (absl::Status s = CheckDpopKey(*record); !s.ok()) {
    Release();
    return s;
  }
  if (Adoptable(*record, request)) {
    Release();
    return Adopt(*record, "after taking the lease, adopted");
  }
  GrantRequest grant = request;
  if (record->generation > 0 && needs_refresh_token_) {
    // The shared record's refresh token, never one this replica read before
    // another rotated it.
    grant.refresh_token = record->token.refresh_token;
  }
  Log(absl::StrCat("lease taken; granting to replace generation ", record->generation));
  Token previous;
  previous.refresh_token = grant.refresh_token;
  previous.scope = record->token.scope;
  absl::StatusOr<Token> token = RunGrant(grant, previous);
  metrics_.Granted(token.ok());
  if (!token.ok()) {
    Release();
    return token.status();
  }
  const SharedRecord next{record->generation + 1, *std::move(token)};
  absl::StatusOr<bool> written = WriteHoldingTheLease(record->generation, next);
  if (!written.ok()) {
    // The grant succeeded: its token (and a rotated refresh token) must not
    // be lost. Use it here and write it when the backend is back; keep the
    // lease meanwhile (it runs out at its ttl), so that no other replica
    // grants from the older record right away.
    metrics_.BackendError(written.status());
    pending_ = PendingWrite{record->generation, next};
    Log(absl::StrCat("writing generation ", next.generation,
                     " failed; using it here and writing it later: ",
                     written.status().message()));
    return next.token;
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
  return next.token;
}

// CompareAndSwap, tried again while the backend fails and for at most half
// the lease (renewing it), since a token service already rotated the refresh
// token. A retry that finds its own earlier attempt written (the reply was
// lost) counts as written.
absl::StatusOr<bool> SharedProtocol::WriteHoldingTheLease(uint64_t expected,
                                                          const SharedRecord& next) {
  const absl::Time give_up = clock_->Now() + options_.lease_ttl / 2;
  absl::Duration pause = absl::Milliseconds(20);
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<bool> written = backend_->CompareAndSwap(expected, next);
    if (written.ok() && *written) return true;
    if (written.ok() || attempt > 0) {
      // Refused: by another writer, or by our own write of a retried
      // attempt. The record says which.
      absl::StatusOr<SharedRecord> now = backend_->Read();
      if (now.ok() && now->generation == next.generation &&
          now->token.access_token == next.token.access_token) {
        return true;
      }
      if (written.ok()) return false;
    }
    const absl::Time now = clock_->Now();
    if (now + pause >= give_up) return written.status();
    SleepUntil(*clock_, now + pause);  // paces the retries of a failing backend
    pause = std::min(pause * 2, absl::Seconds(1));
    (void)backend_->TryAcquireLease(options_.owner_id, options_.lease_ttl);
  }
}

absl::StatusOr<Token> SharedProtocol::Unreachable(const absl::Status& error,
                                                  const GrantRequest& request) {
  metrics_.BackendError(error);
  if (error.code() != absl::StatusCode::kUnavailable) return SharedBackendError(error);
  if (options_.when_unavailable == Options::WhenUnavailable::kWait) {
    // An outage: the TokenManager tries again within 100 ms and its calls
    // keep waiting (within their deadlines), until the outage has lasted
    // max_wait; then it is a failure like any other. Each attempt is bounded
    // by the backend's timeouts, so a longer gap than kOutageGap means the
    // previous outage ended unseen (SetToken, a backoff, no refresh needed)
    // and this is a new one.
    const absl::Time now = clock_->Now();
    if (!unreachable_since_ || now - last_unreachable_at_ > kOutageGap) {
      unreachable_since_ = now;
    }
    last_unreachable_at_ = now;
    serving_unreachable_ = true;
    const absl::Duration down = now - *unreachable_since_;
    if (down < options_.max_wait) {
      return WithFailurePart(
          absl::UnavailableError(absl::StrCat("shared token backend unreachable: ",
                                              error.message())),
          FailurePart::kSharedBackendUnreachable);
    }
    return SharedBackendError(absl::UnavailableError(absl::StrCat(
        "unreachable for ", absl::FormatDuration(absl::Trunc(down, absl::Seconds(1))),
        " (more than max_wait): ", error.message())));
  }
  Log(absl::StrCat("backend unreachable (", error.message(),
                   "); granting locally, to be written when it is back"));
  Token previous;
  previous.refresh_token = request.refresh_token;
  absl::StatusOr<Token> token = RunGrant(request, previous);
  metrics_.Granted(token.ok());
  if (!token.ok()) return token;
  // Still expected to replace the record this replica last saw written.
  const uint64_t expected = pending_ ? pending_->expected : known_generation_;
  pending_ = PendingWrite{expected, SharedRecord{expected + 1, *token}};
  return token;
}

}  // namespace internal
}  // namespace authrefresh
