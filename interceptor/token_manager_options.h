// interceptor/token_manager_options.h
//
// Defines `TokenManagerOptions`, how a TokenManager refreshes, fails and
// reports, and `TokenManagerStats`, its counters. What each refresh outcome
// means for calls is the failure-policy table in token_manager.h.

#ifndef AUTHREFRESH_INTERCEPTOR_TOKEN_MANAGER_OPTIONS_H_
#define AUTHREFRESH_INTERCEPTOR_TOKEN_MANAGER_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "interceptor/clock.h"
#include "interceptor/metrics.h"
#include "interceptor/token.h"
#include "interceptor/token_event.h"
#include "interceptor/token_store.h"

namespace authrefresh {

struct TokenManagerOptions {
  // Called once when the session expires (TerminalReason::kSessionExpired:
  // the user must log in again), before the calls that waited for the
  // refresh fail with the same UNAUTHENTICATED status, which names the token
  // service's reason (or that there is no refresh token). A call that starts
  // while it runs may already fail with that status. Runs on the thread that
  // found the session over: the one that completed the refresh, or, with no
  // refresh token to present, that of the call or SetToken() that needed a
  // grant. Keep it short. It may call SetToken().
  std::function<void(const absl::Status&)> on_session_expired;

  // Called once when the token service rejects this client or its request
  // (TerminalReason::kClientRejected): logging in again will not help, so
  // alert an operator rather than logging the user out. Called before the
  // waiting calls fail with the same status (UNAUTHENTICATED, "the token
  // service rejected this client", naming its reason). Same threading as
  // on_session_expired.
  std::function<void(const absl::Status&)> on_client_rejected;

  // Called with each newly refreshed Token before any waiting call is
  // released, so the application can persist a rotated refresh token. Runs on
  // the thread that completed the refresh; keep it short.
  std::function<void(const Token&)> on_tokens_refreshed;

  // Proactive refresh: once a token is inside this margin before expires_at
  // (at the point refresh_jitter picks), the next call starts one background
  // refresh and goes out with the still-valid token; no call waits for it.
  // The margin is the smaller of `refresh_margin` and
  // `refresh_margin_fraction` of the token's lifetime (from Token::issued_at,
  // or from when the manager got it): with the defaults, 30 s for a 2-minute
  // token, 60 s for a 1-hour one. Past expires_at, calls wait for the
  // refresh instead.
  absl::Duration refresh_margin = absl::Seconds(60);
  double refresh_margin_fraction = 0.25;
  // Where inside the margin the background refresh starts: up to this
  // fraction of the margin after its start (0: at the start; clamped to
  // [0, 1]). With the defaults, a 1-hour token refreshes between 60 s and
  // 30 s before expires_at, a 2-minute token between 30 s and 15 s. The
  // point is drawn from the access token itself (its SHA-256),
  // not from a random number: credentials refresh at different points, and
  // every replica that holds the same token (shared_token.h) picks the same
  // point, so that one grant serves them all, as it would one process.
  double refresh_jitter = 0.5;

  // Transient failures are retried with jittered exponential backoff, as gRPC
  // core's token fetcher does: attempt n waits
  //   min(initial_backoff * backoff_multiplier^(n-1), max_backoff)
  // times a random factor in [1 - backoff_jitter, 1 + backoff_jitter].
  absl::Duration initial_backoff = absl::Seconds(1);
  double backoff_multiplier = 1.6;
  absl::Duration max_backoff = absl::Seconds(120);
  double backoff_jitter = 0.2;
  // Seeds the backoff jitter; 0 picks a random seed. Tests set it to get a
  // fixed schedule.
  uint64_t jitter_seed = 0;

  // After this many consecutive failed attempts (at least 1), the calls
  // waiting for the refresh complete with UNAVAILABLE naming the last error.
  // Calls that arrive while the backoff delay runs fail the same way, at
  // once; the first call after it starts a new refresh.
  int max_refresh_attempts = 3;

  // Loop protection. When a refresh that a rejection caused yields a token
  // that is rejected again within this interval, the server is rejecting
  // every token: the rejection reaches the application (after the one
  // replay) and no further refresh starts until the interval has passed.
  absl::Duration min_refresh_interval = absl::Seconds(1);

  // Called for each TokenEvent, on the thread of the event, never under
  // authrefresh's locks. Keep it short (count, trace, log).
  std::function<void(const TokenEvent&)> on_event;

  // Metrics (metrics.h): refreshes by outcome and their durations, calls
  // that waited, were replayed, rejected or failed, and the current token's
  // time to expiry, with the attribute credential=metrics.credential. No
  // sink: nothing is recorded, at no cost.
  MetricsOptions metrics;

  // The most verbose diagnostics: one line per refresh event (started,
  // succeeded, failed, discarded, loop protection, session expired or client
  // rejected, a waiting call's deadline, a failed save). Tokens appear only as
  // TokenFingerprint(). Runs on the thread of the event, never under
  // authrefresh's locks. Unset: nothing is formatted.
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
  // Refresh attempts that found the shared token backend unreachable
  // (MakeSharedTokenRefresher, kWait): not failures of the token service,
  // not in refreshes_failed, and never a cause of backoff; tried again
  // within 100 ms while calls wait (TokenEvent::kSharedBackendUnreachable).
  // refreshes_started counts an outage's first attempt only.
  uint64_t shared_backend_unreachable = 0;
  uint64_t sessions_expired = 0;  // terminal: TerminalReason::kSessionExpired
  uint64_t clients_rejected = 0;  // terminal: TerminalReason::kClientRejected
  // Attempts after a call's first whose credentials authrefresh ran (each
  // TokenEvent::kCallReplayed): mostly replays after a rejection, also
  // retries under the application's own retryPolicy; counted before the
  // attempt gets its token. A call with three attempts counts two.
  uint64_t calls_replayed = 0;
  // Attempts that waited for a refresh: a call whose first attempt and
  // replay both wait counts two.
  uint64_t calls_waited = 0;
};

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_TOKEN_MANAGER_OPTIONS_H_
