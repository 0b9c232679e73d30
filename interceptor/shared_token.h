// interceptor/shared_token.h
//
// Many replicas, one credential. Defines `SharedTokenBackend`: one token
// record and one refresh lease that processes share (Redis:
// redis_backend.h; one host: MakeFileLockBackend), and
// `MakeSharedTokenRefresher()`, a TokenRefresher that wraps any other so
// that replicas make one grant per expiry between them:
//
//   1. a replica that needs a new token reads the shared record; if it holds
//      a token other than the one this replica wants replaced, it adopts it
//      (no grant);
//   2. otherwise it takes the lease (owner id, expiry longer than a grant),
//      re-reads the record, and runs the grant only if the record is still
//      the one it wanted to replace, presenting the record's refresh token;
//   3. it writes the new record with a compare-and-set on the generation
//      (fencing: a holder whose lease expired cannot overwrite a newer
//      record), releases the lease if it still owns it, and only then
//      returns the token to its TokenManager, which releases the waiting
//      calls. A write that fails is retried for half the lease; if it still
//      fails, the replica keeps the token (its refresh token may be the only
//      live one), keeps the lease until it runs out, and writes the record
//      before anything else once the backend answers;
//   4. a replica that finds the lease taken waits for the record to change
//      or the lease to end (the backend's WaitForChange) and starts again.
//
// Nothing here is on a call's path: the backend is contacted only when a
// TokenManager needs a new token.

#ifndef AUTHREFRESH_INTERCEPTOR_SHARED_TOKEN_H_
#define AUTHREFRESH_INTERCEPTOR_SHARED_TOKEN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "interceptor/clock.h"
#include "interceptor/metrics.h"
#include "interceptor/token.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {

// The token record replicas share.
struct SharedRecord {
  // Increases by one with every write; 0 means there is no record yet.
  uint64_t generation = 0;
  // access_token, refresh_token, expires_at and issued_at (absolute: a
  // replica that adopts the record refreshes when the granting one would),
  // scope.
  Token token;
};

// One shared record and one lease. Implementations block (network or file
// I/O); MakeSharedTokenRefresher calls them from its own thread only, one at
// a time. An unreachable backend is UNAVAILABLE; a misconfigured one (wrong
// password, wrong encryption key, no permission) PERMISSION_DENIED or
// FAILED_PRECONDITION. Messages never contain a token.
class SharedTokenBackend {
 public:
  virtual ~SharedTokenBackend() = default;

  // The current record; generation 0 when there is none.
  virtual absl::StatusOr<SharedRecord> Read() = 0;

  // Takes the lease for `owner` if nobody holds it or its holder's lease has
  // expired; the lease then expires after `ttl` unless released. True when
  // taken. Taking a lease `owner` already holds renews it.
  virtual absl::StatusOr<bool> TryAcquireLease(const std::string& owner,
                                               absl::Duration ttl) = 0;

  // Writes `record` (whose generation is expected_generation + 1) only if
  // the stored generation is still `expected_generation` (0: no record).
  // False when it is not: someone else wrote first, and nothing is written.
  // A successful write is announced to WaitForChange callers.
  virtual absl::StatusOr<bool> CompareAndSwap(uint64_t expected_generation,
                                              const SharedRecord& record) = 0;

  // Releases the lease if `owner` still holds it; otherwise does nothing.
  virtual absl::Status ReleaseLease(const std::string& owner) = 0;

  // Returns when the record's generation is no longer `generation`, when
  // nobody holds the lease, or after `timeout`, whichever is first (without
  // an error in each case). Implementations may listen for announcements or
  // poll with a bounded backoff; never a busy loop.
  virtual absl::Status WaitForChange(uint64_t generation, absl::Duration timeout) = 0;
};

struct SharedTokenRefresherOptions {
  // Identifies this process in the lease. Empty: "<hostname>:<pid>:<random>".
  std::string owner_id;
  // How long a lease lasts unless released: longer than the wrapped
  // refresher's timeout plus one backend round trip, so that a live holder
  // always writes before its lease ends. A holder that dies is replaced
  // after this long.
  absl::Duration lease_ttl = absl::Seconds(30);
  // A replica that finds the lease taken waits for the record to change, at
  // most this long per WaitForChange before it looks again.
  absl::Duration wait_step = absl::Seconds(1);
  // Longest wait for another replica's grant, after which the refresh fails
  // UNAVAILABLE (transient: the TokenManager retries with backoff); also how
  // long an outage of the backend is waited out under kWait. More than
  // lease_ttl, so that a dead holder's lease can run out first.
  absl::Duration max_wait = absl::Seconds(75);
  // What a replica does when the backend cannot be reached (UNAVAILABLE).
  enum class WhenUnavailable {
    // Calls with a valid token keep flowing; calls that need a new one
    // wait (each within its deadline) while the TokenManager tries the
    // refresh again every 10 to 100 ms, without counting an attempt or
    // backing off (TokenEvent::kSharedBackendUnreachable, once per outage;
    // TokenManagerStats::shared_backend_unreachable): they proceed within
    // about 100 ms of the backend's return. After max_wait without an
    // answer, the refresh fails UNAVAILABLE "shared token backend: ...", a
    // transient failure with the TokenManager's backoff. No grant is made
    // without the lease, so a rotating refresh token is never presented
    // twice. The safe choice for a shared rotating refresh token.
    kWait,
    // The replica makes the grant itself (single flight within the process
    // only) and writes the result to the backend once it is back, if no
    // other replica wrote first. Calls keep working through an outage; but
    // two replicas may then present the same refresh token, which a token
    // service with reuse detection answers by revoking it. For client
    // credentials and other grants without a refresh token, harmless.
    kRefreshLocally,
  };
  WhenUnavailable when_unavailable = WhenUnavailable::kWait;
  // One line per protocol step (adopted, lease taken, waiting, written, ...),
  // with tokens shown only as TokenFingerprint(). Unset: nothing is logged
  // (the lines are still built, a few per refresh).
  std::function<void(absl::string_view)> debug_log;
  // Metrics of the protocol (metrics.h: authrefresh.shared.*): lease waits,
  // adoptions, grants and backend errors. Give it the same sink and
  // credential as the TokenManager's (TokenManagerOptions::metrics).
  MetricsOptions metrics;
  // The time of every wait and deadline above (lease_ttl's and max_wait's
  // ends, the pauses between write attempts); null means SystemClock(). A
  // test gives the same fake clock to its TokenManager, this refresher and
  // the backend. The lease's own expiry is the backend's (Redis's clock).
  std::shared_ptr<Clock> clock;
};

// Wraps `inner` (the grant itself: MakeHttpTokenRefresher,
// MakeGrpcTokenRefresher, ...) so that every process using `backend` with
// the same credential shares its tokens, as described at the top of this
// file. One worker thread per refresher, started on its first refresh, does
// the backend's I/O; no application thread waits on it. Destroying the
// refresher during a grant waits for that grant (at most lease_ttl), so that
// a refresh token the token service already rotated is written, not lost.
// A backend error fails the refresh "shared token backend: ...": its
// PERMISSION_DENIED or FAILED_PRECONDITION (Redis refusing the password, a
// wrong encryption key, the file backend's EACCES, EROFS, ENOSPC, ...) as
// FAILED_PRECONDITION, which ends refreshing as "the shared token backend
// refused this replica" (the failure-policy table of token_manager.h);
// any other code as UNAVAILABLE. A backend that is UNAVAILABLE is an outage:
// under kWait the calls wait for it (above), under kRefreshLocally it means
// a local grant. NeedsRefreshToken()
// is the inner refresher's; a grant presents the shared record's refresh
// token when there is a record, so a replica never presents a refresh token
// another replica already rotated. INVALID_ARGUMENT for a null inner or
// backend, or inconsistent durations.
absl::StatusOr<std::unique_ptr<TokenRefresher>> MakeSharedTokenRefresher(
    std::unique_ptr<TokenRefresher> inner, std::shared_ptr<SharedTokenBackend> backend,
    SharedTokenRefresherOptions options = {});

// One host: the record lives in the file at `path` (written to a new 0600
// file, synced and renamed over it) and the lease is an exclusive flock(2) on
// `path` + ".lock". The kernel releases the lock when its holder exits,
// however it dies, so there is no lease expiry: `ttl` is ignored, and a
// holder that is stopped (SIGSTOP, a debugger) keeps the lease until it runs
// again. One backend object holds one lock: owners sharing the object
// exclude each other too. WaitForChange polls with a bounded backoff (1 ms
// doubling to 50 ms), probing the lock with a separate open file, which can
// delay another process's attempt by one poll. The record and the directory
// are fsynced on every write; the file has TokenStore's file format. Polls
// and lock waits run on `clock` (null: SystemClock()).
std::shared_ptr<SharedTokenBackend> MakeFileLockBackend(std::string path,
                                                        std::shared_ptr<Clock> clock = nullptr);

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_SHARED_TOKEN_H_
