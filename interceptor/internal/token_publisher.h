// interceptor/internal/token_publisher.h
//
// Defines `TokenPublisher`: the token every call reads, without a lock. The
// coordinator publishes an immutable `TokenSnapshot` for each new token (or
// terminal status); each thread keeps the snapshot it last read and takes a
// lock only when a newer one was published. Beside the snapshot, three
// generations the fast path reads lock-free: the newest one a server
// rejected, the newest one a server accepted, and the one whose proactive
// refresh was already started.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_PUBLISHER_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_PUBLISHER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "interceptor/dpop.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/token.h"

namespace authrefresh {
namespace internal {

// One published token. Immutable; replaced whole on every change.
struct TokenSnapshot {
  // Unique among all snapshots of the process, of every publisher.
  uint64_t id = 0;
  Token token;
  // Starts at 1 and grows by one with every new token or terminal status.
  uint64_t generation = 0;
  // "Bearer <access_token>", "DPoP <access_token>" for a token bound to the
  // publisher's DPoP key, or empty when there is no usable access token.
  std::string authorization;
  // A DPoP-bound token (Token::dpop_jkt): the key that signs each attempt's
  // proof, and the proofs' "ath", computed once per token. Null: bearer.
  std::shared_ptr<const DpopKey> dpop_key;
  std::string dpop_ath;
  // Not OK while refreshing has stopped for good (session expired, client
  // rejected): calls fail at once with it.
  absl::Status terminal;
  // From this time on, a call starts a background (proactive) refresh.
  absl::Time refresh_after = absl::InfiniteFuture();
};

class TokenPublisher {
 public:
  using Snapshot = std::shared_ptr<const TokenSnapshot>;

  // `dpop_key`: the refresher's (TokenRefresher::dpop_key), or null.
  explicit TokenPublisher(std::shared_ptr<const DpopKey> dpop_key = nullptr);
  TokenPublisher(const TokenPublisher&) = delete;
  TokenPublisher& operator=(const TokenPublisher&) = delete;

  // The thumbprint of the DPoP key; empty: none.
  const std::string& dpop_jkt() const { return dpop_jkt_; }

  // Publishes `generation` (the refresh state's). The coordinator calls it
  // under its own lock, so that snapshots are published in the order of its
  // decisions.
  Snapshot Publish(uint64_t generation, Token token, absl::Status terminal,
                   absl::Time refresh_after) ABSL_LOCKS_EXCLUDED(mu_);

  // The current snapshot. Lock-free unless it changed since this thread last
  // asked. The reference stays valid until this thread calls Current() again
  // (of any publisher); copy what you need before then.
  const TokenSnapshot& Current() ABSL_LOCKS_EXCLUDED(mu_);
  // The current snapshot, as a reference of its own.
  Snapshot Latest() const ABSL_LOCKS_EXCLUDED(mu_);

  // Whether `s` may be sent at `now`: not terminal, a token, not expired,
  // newer than the newest generation a server rejected.
  bool Sendable(const TokenSnapshot& s, absl::Time now) const {
    return s.terminal.ok() && !s.authorization.empty() && now < s.token.expires_at &&
           s.generation > rejected_.load(std::memory_order_acquire);
  }

  // The newest generation a server has rejected: no new call sends it.
  void SetRejected(uint64_t generation) {
    rejected_.store(generation, std::memory_order_release);
  }
  // The newest generation a server accepted (a call ended OK).
  void NoteAccepted(uint64_t generation);
  uint64_t accepted() const { return accepted_.load(std::memory_order_acquire); }
  // The generation whose proactive refresh was started (0: none), so the
  // fast path asks the coordinator once per token, not once per call.
  uint64_t early_refresh() const { return early_refresh_.load(std::memory_order_relaxed); }
  void SetEarlyRefresh(uint64_t generation) {
    early_refresh_.store(generation, std::memory_order_relaxed);
  }

 private:
  const uint64_t id_;  // distinguishes publishers in the per-thread cache
  const std::shared_ptr<const DpopKey> dpop_key_;
  const std::string dpop_jkt_;
  // Bumped (release) after every Publish; read (acquire) by Current().
  std::atomic<uint64_t> version_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> early_refresh_{0};
  mutable CallMutex mu_;
  Snapshot current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_PUBLISHER_H_
