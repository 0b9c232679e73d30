#include "interceptor/internal/refresh_diagnostics.h"

#include "absl/strings/str_cat.h"

namespace authrefresh {
namespace internal {

using Outcome = GrantReport::Outcome;

RefreshDiagnostics::RefreshDiagnostics(const TokenManagerOptions& options, CallbackGate* gate)
    : options_(options), gate_(gate), metrics_(options.metrics) {}

void RefreshDiagnostics::Log(const std::string& line) const {
  gate_->Run([&] { options_.debug_log(line); });
}

void RefreshDiagnostics::Emit(const TokenEvent& event) const {
  gate_->Run([&] { options_.on_event(event); });
}

void RefreshDiagnostics::GrantStarted(const GrantOrder& order) const {
  if (logging()) {
    if (order.proactive) Log("proactive refresh: the token is inside its refresh margin");
    Log(absl::StrCat(order.proactive ? "proactive " : "", "refresh started: ",
                     order.refresh_token.empty()
                         ? std::string("no refresh token, the refresher's own grant")
                         : absl::StrCat("presenting refresh token ",
                                        TokenFingerprint(order.refresh_token))));
  }
  if (options_.on_event) {
    TokenEvent e{TokenEvent::Kind::kRefreshStarted};
    e.proactive = order.proactive;
    e.token_fingerprint = TokenFingerprint(order.refresh_token);
    Emit(e);
  }
}

void RefreshDiagnostics::GrantSucceeded(const GrantReport& report, const Token& token,
                                        size_t released, absl::Time now) const {
  metrics_.RefreshEnded(ManagerMetrics::Outcome::kSuccess, report.proactive, report.took);
  if (logging()) {
    Log(absl::StrCat(
        "refresh succeeded in ", absl::FormatDuration(report.took), ": access token ",
        TokenFingerprint(token.access_token), ", expires ",
        token.expires_at == absl::InfiniteFuture()
            ? std::string("never (no expires_in)")
            : absl::StrCat("in ", absl::FormatDuration(token.expires_at - now)),
        ", refresh token ",
        report.rotated ? absl::StrCat("rotated to ", TokenFingerprint(token.refresh_token))
                       : std::string("kept"),
        "; releasing ", released, " waiting calls"));
  }
  if (options_.on_event) {
    TokenEvent e{TokenEvent::Kind::kRefreshSucceeded};
    e.proactive = report.proactive;
    e.duration = report.took;
    e.token_fingerprint = TokenFingerprint(token.access_token);
    Emit(e);
  }
}

void RefreshDiagnostics::GrantFailed(const GrantReport& report, const GrantFailure& failure,
                                     size_t waiting, int max_attempts) const {
  if (report.outcome == Outcome::kBackendUnreachable) {
    BackendUnreachable(report, failure, waiting);
    return;
  }
  metrics_.RefreshEnded(!failure.terminal ? ManagerMetrics::Outcome::kFailure
                        : failure.reason == TerminalReason::kSessionExpired
                            ? ManagerMetrics::Outcome::kSessionExpired
                            : ManagerMetrics::Outcome::kClientRejected,
                        report.proactive, report.took);
  if (logging()) {
    if (report.outcome == Outcome::kFailedTerminal) {
      Log(absl::StrCat("refresh failed, terminal: ", failure.described, "; failing ", waiting,
                       " waiting calls"));
    } else {
      Log(absl::StrCat(
          "refresh failed, transient (", report.round_failures, " of ", max_attempts,
          "): ", failure.described,
          report.gave_up ? absl::StrCat("; failing ", waiting, " waiting calls, backing off ",
                                        absl::FormatDuration(report.delay))
                         : absl::StrCat("; retrying in ", absl::FormatDuration(report.delay))));
    }
  }
  if (options_.on_event) {
    TokenEvent e{TokenEvent::Kind::kRefreshFailed};
    e.proactive = report.proactive;
    e.terminal = failure.terminal;
    e.terminal_reason = failure.reason;
    e.duration = report.took;
    e.reason = failure.event_reason;
    Emit(e);
  }
}

// One line and one event per outage; its further attempts are counted
// (TokenManagerStats::shared_backend_unreachable), not logged.
void RefreshDiagnostics::BackendUnreachable(const GrantReport& report,
                                            const GrantFailure& failure,
                                            size_t waiting) const {
  if (!report.outage_began) return;
  if (logging()) {
    Log(absl::StrCat("refresh found the shared token backend unreachable: ", failure.described,
                     "; ", waiting, " waiting calls wait on; retrying every ",
                     absl::FormatDuration(kMaxBackendRetryDelay), " at most"));
  }
  if (options_.on_event) {
    TokenEvent e{TokenEvent::Kind::kSharedBackendUnreachable};
    e.proactive = report.proactive;
    e.duration = report.took;
    e.reason = failure.event_reason;
    Emit(e);
  }
}

void RefreshDiagnostics::GrantDiscarded() const {
  if (logging()) {
    Log("refresh result discarded: SetToken replaced the token while the refresh was in "
        "flight");
  }
}

void RefreshDiagnostics::Ended(TerminalReason reason, const absl::Status& status) const {
  if (logging()) Log(std::string(status.message()));
  if (options_.on_event) {
    TokenEvent e{reason == TerminalReason::kSessionExpired ? TokenEvent::Kind::kSessionExpired
                                                           : TokenEvent::Kind::kClientRejected};
    e.terminal = true;
    e.terminal_reason = reason;
    e.reason = status;
    Emit(e);
  }
}

void RefreshDiagnostics::LoopProtected(absl::Duration interval) const {
  if (logging()) {
    Log(absl::StrCat("loop protection: a server rejected a token that a rejection-driven "
                     "refresh issued less than ",
                     absl::FormatDuration(interval),
                     " ago; passing the rejection on, not refreshing"));
  }
}

void RefreshDiagnostics::WaiterDeadline() const {
  if (logging()) Log("a waiting call reached its deadline");
}

void RefreshDiagnostics::StoreFailed(const absl::Status& status) const {
  if (logging()) Log(absl::StrCat("saving the token failed: ", status.message()));
}

void RefreshDiagnostics::CallReplayed() const {
  metrics_.CallReplayed();
  if (options_.on_event) Emit(TokenEvent{TokenEvent::Kind::kCallReplayed});
}

}  // namespace internal
}  // namespace authrefresh
