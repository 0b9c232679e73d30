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

// Why refreshing stopped for good, until TokenManager::SetToken(). The
// failure-policy table in token_manager.h says what calls see.
enum class TerminalReason {
  // The refresh token (the session) is dead: the user must log in again.
  // The token service answered UNAUTHENTICATED (OAuth invalid_grant) to a
  // refresh-token grant, or the refresher needs a refresh token and there is
  // none. Never the outcome of a grant that presented no refresh token.
  kSessionExpired,
  // The token service rejected this client or its request: its credentials
  // or configuration are wrong (invalid_client, unauthorized_client, an HTTP
  // 401, invalid_scope, unsupported_grant_type; a refresher's
  // PERMISSION_DENIED, INVALID_ARGUMENT or FAILED_PRECONDITION, or its
  // UNAUTHENTICATED to a grant that presented no refresh token). Logging in
  // again cannot fix it; an operator must.
  kClientRejected,
};

// One step of a TokenManager's life.
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
  // The refresher's error (kRefreshFailed), or the status calls now fail
  // with (kSessionExpired, kClientRejected). Tokens in it are replaced by
  // their fingerprints.
  absl::Status reason;
  // TokenFingerprint() of the token concerned; never the token itself.
  std::string token_fingerprint;
};

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_TOKEN_EVENT_H_
