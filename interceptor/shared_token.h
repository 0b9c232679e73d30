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
//      record) before returning the token to its TokenManager, which then
//      releases the waiting calls; then it releases the lease if it still
//      owns it;
//   4. a replica that finds the lease taken waits for the record to change
//      or the lease to end (the backend's WaitForChange) and starts again.
//
// Nothing here is on a call's path: the backend is contacted only when a
// TokenManager needs a new token.

#ifndef AUTHREFRESH_INTERCEPTOR_SHARED_TOKEN_H_
#define AUTHREFRESH_INTERCEPTOR_SHARED_TOKEN_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "interceptor/token.h"

namespace authrefresh {

// The token record replicas share.
struct SharedRecord {
  // Increases by one with every write; 0 means there is no record yet.
  uint64_t generation = 0;
  // access_token, refresh_token, expires_at (absolute), scope.
  Token token;
};

// One shared record and one lease. Implementations block (network or file
// I/O); MakeSharedTokenRefresher calls them from its own thread only, one at
// a time. An unreachable backend is UNAVAILABLE; other codes are
// misconfigurations (wrong password, wrong encryption key, ...), and
// messages never contain a token.
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

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_SHARED_TOKEN_H_
