// interceptor/token_manager.h
//
// Defines `TokenManager`: the current token of one credential, shared by every
// channel that uses it, and the single-flight refresh that renews it.
//
// Calls read the current token without taking a lock. When a call needs a new
// token (the server rejected the one it sent, or the token has expired), it
// waits, without blocking a thread, for the one refresh in flight, starting it
// if none is. Refresh failures follow one policy:
//
//   refresh outcome                  waiting calls               later calls
//   -------------------------------  --------------------------  -------------
//   success                          replayed with the new token use it
//   session expired (invalid_grant)  UNAUTHENTICATED "session    same, at once,
//                                    expired"; on_session_expired until
//                                    runs once                   SetToken
//   client rejected (invalid_client, FAILED_PRECONDITION "the    same, at once,
//   unauthorized_client, 401,        token service rejected this until
//   invalid_scope, ...)              client"; on_client_rejected SetToken
//                                    runs once
//   transient (UNAVAILABLE, bad      keep waiting while the      wait, or
//   response, timeout, ...)          refresh is retried with     UNAVAILABLE at
//                                    backoff; UNAVAILABLE after  once while
//                                    max_refresh_attempts        backing off
//
// A waiting call also ends at its own deadline (DEADLINE_EXCEEDED) or when it
// is cancelled (CANCELLED).

#ifndef AUTHREFRESH_INTERCEPTOR_TOKEN_MANAGER_H_
#define AUTHREFRESH_INTERCEPTOR_TOKEN_MANAGER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "interceptor/clock.h"
#include "interceptor/token.h"
#include "interceptor/token_refresher.h"
#include "interceptor/token_store.h"

namespace authrefresh {

namespace internal {
class RefreshCoordinator;
}  // namespace internal

// Why refreshing stopped for good, until SetToken().
enum class TerminalReason {
  // The refresh token (the session) is dead: the user must log in again.
  // The token service answered UNAUTHENTICATED (OAuth invalid_grant) to a
  // refresh-token grant, or the refresher needs a refresh token and there is
  // none. Never the outcome of a grant that presented no refresh token.
  kSessionExpired,
  // The token service rejected this client or its request: its credentials
  // or configuration are wrong (invalid_client, unauthorized_client, an HTTP
  // 401, invalid_scope, unsupported_grant_type; PERMISSION_DENIED,
  // INVALID_ARGUMENT or FAILED_PRECONDITION from a refresher). Logging in
  // again cannot fix it; an operator must.
  kClientRejected,
};

// What happened, for metrics and tracing (TokenManagerOptions::on_event).
struct TokenEvent {
  enum class Kind {
    kRefreshStarted,    // token_fingerprint: the refresh token presented
    kRefreshSucceeded,  // duration; token_fingerprint: the new access token
    kRefreshFailed,     // duration; reason; terminal (and terminal_reason)
    kCallReplayed,      // a rejected call was sent again with a newer token
    kSessionExpired,    // reason: the status calls now fail with
    kClientRejected,    // reason: the status calls now fail with
  };
  Kind kind;
  // Whether the refresh was proactive (inside the margin, nobody waiting).
  bool proactive = false;
  bool terminal = false;
  TerminalReason terminal_reason = TerminalReason::kSessionExpired;
  absl::Duration duration = absl::ZeroDuration();
  absl::Status reason;
  // TokenFingerprint() of the token concerned; never the token itself.
  std::string token_fingerprint;
};

struct TokenManagerOptions {
  // Called once when the session expires (the refresh token is dead: the
  // user must log in again), before the calls that waited for the refresh
  // are failed. A call that starts while it runs may already fail with the
  // same "session expired" status. The status
  // is UNAUTHENTICATED and names the token service's reason. Runs on the
  // thread that completed the refresh; keep it short. It may call SetToken().
  std::function<void(const absl::Status&)> on_session_expired;

  // Called once when the token service rejects this client or its request
  // (TerminalReason::kClientRejected): logging in again will not help, so
  // alert an operator rather than logging the user out. Called before the
  // waiting calls fail with the same status (FAILED_PRECONDITION, naming the
  // token service's reason). Same threading as on_session_expired.
  std::function<void(const absl::Status&)> on_client_rejected;

  // Called with each newly refreshed Token before any waiting call is
  // released, so the application can persist a rotated refresh token. Runs on
  // the thread that completed the refresh; keep it short.
  std::function<void(const Token&)> on_tokens_refreshed;

  // Proactive refresh: once a token is within this margin of expires_at, the
  // next call starts one background refresh and goes out with the still-valid
  // token; no call waits for it. The margin is the smaller of
  // `refresh_margin` and `refresh_margin_fraction` of the token's lifetime
  // (from when it was obtained), so a 2-minute token refreshes 30 s early.
  // Past expires_at, calls wait for the refresh instead.
  absl::Duration refresh_margin = absl::Seconds(60);
  double refresh_margin_fraction = 0.25;
  // Where inside the margin the background refresh starts, randomised per
  // token: up to this fraction of the margin later than its start (0: at
  // the start; clamped to [0, 1]). Replicas that share a credential
  // (shared_token.h) then do not all reach the token service, or the shared
  // record, in the same millisecond. Seeded by jitter_seed.
  double refresh_jitter = 0.5;

  // Transient failures are retried with jittered exponential backoff, as gRPC
  // core's token fetcher does: attempt n waits
  //   min(initial_backoff * backoff_multiplier^(n-1), max_backoff)
  // times a random factor in [1 - backoff_jitter, 1 + backoff_jitter].
  absl::Duration initial_backoff = absl::Seconds(1);
  double backoff_multiplier = 1.6;
  absl::Duration max_backoff = absl::Seconds(120);
  double backoff_jitter = 0.2;
  // Seeds the backoff jitter and refresh_jitter; 0 picks a random seed.
  // Tests set it to get a fixed schedule.
  uint64_t jitter_seed = 0;

  // After this many consecutive failed attempts, the calls waiting for the
  // refresh complete with UNAVAILABLE naming the last error. Calls that
  // arrive while the backoff delay runs fail the same way, at once; the first
  // call after it starts a new refresh.
  int max_refresh_attempts = 3;

  // Loop protection. When a refresh that a rejection caused yields a token
  // that is rejected again within this interval, the server is rejecting
  // every token: the rejection reaches the application (after the one
  // replay) and no further refresh starts until the interval has passed.
  absl::Duration min_refresh_interval = absl::Seconds(1);

  // Called for each TokenEvent, on the thread of the event, never under
  // authrefresh's locks. Keep it short (count, trace, log).
  std::function<void(const TokenEvent&)> on_event;

  // The most verbose diagnostics: one line per refresh event (started,
  // succeeded, failed, discarded, loop protection, session expired). Tokens
  // appear only as TokenFingerprint(). Runs on the thread of the event, never
  // under authrefresh's locks. Unset: nothing is formatted.
  std::function<void(absl::string_view)> debug_log;

  // Persistence. With a store, Create() starts from the stored token when
  // there is one (it is newer than any token the application baked in), and
  // every refreshed or SetToken() token is saved before waiting calls are
  // released. A failed save is reported to on_store_error and the new token
  // is used in memory all the same: a rotated refresh token is never dropped.
  std::shared_ptr<TokenStore> store;
  std::function<void(const absl::Status&)> on_store_error;

  // Time and timers; null means SystemClock().
  std::shared_ptr<Clock> clock;
};

struct TokenManagerStats {
  uint64_t refreshes_started = 0;
  uint64_t refreshes_succeeded = 0;
  uint64_t refreshes_failed = 0;  // transient and terminal
  uint64_t sessions_expired = 0;  // terminal: TerminalReason::kSessionExpired
  uint64_t clients_rejected = 0;  // terminal: TerminalReason::kClientRejected
  uint64_t calls_replayed = 0;    // calls sent again after a rejection
  uint64_t calls_waited = 0;      // calls that waited for a refresh
};

class TokenManager {
 public:
  // `initial` may have an empty access token (the first call refreshes) and
  // an empty refresh token: with a refresher that needs one, the session then
  // ends at the first rejection; with one that does not (client credentials,
  // JWT bearer, token exchange), `Token{}` is the usual start. A token
  // that could not be sent as a header value (control characters, non-ASCII,
  // over 8 KiB) is treated as absent. `refresher` must not be null.
  static std::shared_ptr<TokenManager> Create(
      Token initial, std::unique_ptr<TokenRefresher> refresher,
      TokenManagerOptions options = {});

  // Fails every call still waiting for a refresh (UNAVAILABLE, "TokenManager
  // destroyed"), cancels the refresh in flight, and returns after any
  // callback already running has returned. No callback runs afterwards.
  ~TokenManager();

  TokenManager(const TokenManager&) = delete;
  TokenManager& operator=(const TokenManager&) = delete;

  // The current token. Thread-safe.
  Token CurrentToken() const;

  // Replaces the token, e.g. after a new login; ends a terminal failure and
  // releases any waiting call with the new token. A refresh in flight
  // finishes, but its result is discarded.
  void SetToken(Token token);

  // Counters since creation. Thread-safe.
  TokenManagerStats Stats() const;

  // Internal: what the interceptor uses. Not part of the API.
  const std::shared_ptr<internal::RefreshCoordinator>& coordinator() const {
    return coordinator_;
  }

 private:
  explicit TokenManager(std::shared_ptr<internal::RefreshCoordinator> c);
  std::shared_ptr<internal::RefreshCoordinator> coordinator_;
};

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_TOKEN_MANAGER_H_
