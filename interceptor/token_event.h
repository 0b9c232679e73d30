// interceptor/token_event.h
//
// Defines `TerminalReason`, why refreshing stopped for good, and
// `TokenEvent`, what a TokenManager reports to TokenManagerOptions::on_event
// (for metrics and tracing). Plain values, no behaviour.

#ifndef AUTHREFRESH_INTERCEPTOR_TOKEN_EVENT_H_
#define AUTHREFRESH_INTERCEPTOR_TOKEN_EVENT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace authrefresh {

// Why refreshing stopped for good, until TokenManager::SetToken(). Which
// refresh outcomes lead to each, and what calls see, is the failure-policy
// table in token_manager.h.
enum class TerminalReason {
  // The refresh token (the session) is dead, or there is none to present:
  // the user must log in again.
  kSessionExpired,
  // The token service rejected this client or its request: its credentials
  // or configuration are wrong. Logging in again cannot fix it; an operator
  // must.
  kClientRejected,
};

// One step of a TokenManager's life.
struct TokenEvent {
  enum class Kind {
    kRefreshStarted,    // token_fingerprint: the refresh token presented
    kRefreshSucceeded,  // duration; token_fingerprint: the new access token
    kRefreshFailed,     // duration; reason; terminal (and terminal_reason)
    kCallReplayed,      // gRPC sent a call again (TokenManagerStats::calls_replayed)
    kSessionExpired,    // reason: the status calls now fail with
    kClientRejected,    // reason: the status calls now fail with
    // The first refresh attempt of an outage of the shared token backend
    // (MakeSharedTokenRefresher, kWait); reason: the backend's error.
    // Attempts are repeated within 100 ms (TokenManagerStats::
    // shared_backend_unreachable counts each; they are neither counted in
    // refreshes_started nor reported as kRefreshStarted) while calls wait;
    // the next kRefreshSucceeded or kRefreshFailed, or SetToken(), ends the
    // outage.
    kSharedBackendUnreachable,
  };
  Kind kind;
  // Whether the refresh was proactive (inside the margin, nobody waiting).
  bool proactive = false;
  bool terminal = false;
  TerminalReason terminal_reason = TerminalReason::kSessionExpired;
  absl::Duration duration = absl::ZeroDuration();
  // The refresher's error (kRefreshFailed), or the status calls now fail
  // with (kSessionExpired, kClientRejected). Tokens in it are replaced by
  // their fingerprints.
  absl::Status reason;
  // TokenFingerprint() of the token concerned; never the token itself.
  std::string token_fingerprint;
};

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_TOKEN_EVENT_H_
