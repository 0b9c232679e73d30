// interceptor/internal/shared_protocol.h
//
// `SharedProtocol`: the cross-process protocol of shared_token.h, one
// refresh at a time (adopt, or lease, re-read, grant, compare-and-set,
// release; wait while another replica holds the lease). It blocks: the shared
// refresher runs it on its worker thread. Time comes from a Clock, so a test
// with a fake clock drives every wait; the grant itself is a function, so a
// test can make it synchronous.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_SHARED_PROTOCOL_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_SHARED_PROTOCOL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "interceptor/clock.h"
#include "interceptor/internal/metrics_recorder.h"
#include "interceptor/shared_token.h"
#include "interceptor/token.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {
namespace internal {

// An adopted token must have at least this long left; a shorter one is
// treated as the one to replace.
inline constexpr absl::Duration kMinAdoptableLifetime = absl::Seconds(1);

class SharedProtocol {
 public:
  // The wrapped refresher's grant, run to completion (blocking).
  using Grant = std::function<absl::StatusOr<Token>(const GrantRequest&)>;
  // Whether the refresher is being destroyed: the protocol stops waiting.
  using Stopping = std::function<bool()>;

  // `options.owner_id` must be set. `needs_refresh_token`: the wrapped
  // refresher's NeedsRefreshToken(). `dpop_jkt`: the thumbprint of the
  // wrapped refresher's DPoP key (empty: none); a record whose token is
  // bound to another key (or to a key, when this replica has none) is
  // refused, FAILED_PRECONDITION, neither adopted nor granted from.
  SharedProtocol(std::shared_ptr<SharedTokenBackend> backend,
                 SharedTokenRefresherOptions options, std::shared_ptr<Clock> clock,
                 bool needs_refresh_token, Grant grant, Stopping stopping,
                 std::string dpop_jkt = "");

  // One refresh for a TokenManager's `request`: the token to hand it, or why
  // there is none (shared_token.h says which errors are which).
  absl::StatusOr<Token> Serve(const GrantRequest& request);

  // Two unreachable attempts further apart than this belong to two outages.
  static constexpr absl::Duration kOutageGap = absl::Seconds(10);

  // A record this replica made while it could not write it: written now if
  // nobody else wrote since, else dropped (the newer record wins; this
  // replica adopts it). False while it still cannot be written.
  bool FlushPendingWrite();
  bool HasPending() const { return pending_.has_value(); }

 private:
  struct PendingWrite {
    uint64_t expected;
    SharedRecord record;
  };

  absl::StatusOr<Token> ServeOnce(const GrantRequest& request);
  void Log(absl::string_view line) const;
  // Records the lease wait of this Serve, if it waited.
  void EndLeaseWait();
  absl::StatusOr<SharedRecord> Read();
  bool Adoptable(const SharedRecord& r, const GrantRequest& request);
  // OK unless the record's token is bound to another DPoP key than this
  // replica's.
  absl::Status CheckDpopKey(const SharedRecord& r) const;
  absl::StatusOr<Token> Adopt(const SharedRecord& r, absl::string_view how);
  void Release();
  absl::StatusOr<Token> GrantUnderLease(const GrantRequest& request);
  absl::StatusOr<bool> WriteHoldingTheLease(uint64_t expected, const SharedRecord& next);
  absl::StatusOr<Token> Unreachable(const absl::Status& error, const GrantRequest& request);
  // The wrapped grant's token completed from `previous` and checked.
  absl::StatusOr<Token> RunGrant(const GrantRequest& grant, const Token& previous);

  const std::shared_ptr<SharedTokenBackend> backend_;
  const SharedTokenRefresherOptions options_;
  const std::shared_ptr<Clock> clock_;
  const bool needs_refresh_token_;
  const Grant grant_;
  const Stopping stopping_;
  const std::string dpop_jkt_;  // the wrapped refresher's DPoP key; empty: none
  const SharedMetrics metrics_;
  uint64_t known_generation_ = 0;
  std::optional<PendingWrite> pending_;
  // kWait: when the current outage began (the first of a run of Serve calls
  // that each ended with the backend unreachable) and when its latest
  // unreachable attempt was; unset when a Serve ends otherwise.
  std::optional<absl::Time> unreachable_since_;
  absl::Time last_unreachable_at_;
  bool serving_unreachable_ = false;  // this Serve found the backend unreachable
  // When this Serve first found the lease held by another replica.
  std::optional<absl::Time> lease_wait_began_;
};

// A backend failure as the TokenManager sees it, marked FailurePart::
// kSharedBackend ("shared token backend: CODE: message"): a refused password
// or a wrong encryption key (PERMISSION_DENIED, FAILED_PRECONDITION) is a
// misconfiguration, terminal (FAILED_PRECONDITION); anything else is
// transient (UNAVAILABLE) and retried with the TokenManager's backoff. An
// outage under kWait is not passed here until it has lasted max_wait: until
// then Serve's error is UNAVAILABLE marked kSharedBackendUnreachable, which
// the TokenManager retries within about 100 ms while its calls wait.
absl::Status SharedBackendError(const absl::Status& s);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_SHARED_PROTOCOL_H_
