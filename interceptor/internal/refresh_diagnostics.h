// interceptor/internal/refresh_diagnostics.h
//
// Defines `RefreshDiagnostics`: what a TokenManager tells the application
// about its refreshes, as TokenEvents (TokenManagerOptions::on_event),
// debug_log lines and metrics (TokenManagerOptions::metrics). The coordinator calls it after its lock is released;
// nothing is formatted when neither callback is set, and tokens appear only
// as TokenFingerprint().

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_DIAGNOSTICS_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_DIAGNOSTICS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "interceptor/internal/callback_gate.h"
#include "interceptor/internal/metrics_recorder.h"
#include "interceptor/internal/refresh_policy.h"
#include "interceptor/internal/refresh_state.h"
#include "interceptor/token.h"
#include "interceptor/token_event.h"
#include "interceptor/token_manager_options.h"

namespace authrefresh {
namespace internal {

class RefreshDiagnostics {
 public:
  // `options` and `gate` outlive this object.
  RefreshDiagnostics(const TokenManagerOptions& options, CallbackGate* gate);

  bool logging() const { return static_cast<bool>(options_.debug_log); }

  void GrantStarted(const GrantOrder& order) const;
  // `token`: the new token; `released`: the calls it releases.
  void GrantSucceeded(const GrantReport& report, const Token& token, size_t released,
                      absl::Time now) const;
  // `waiting`: the calls still waiting (released when terminal or gave_up).
  void GrantFailed(const GrantReport& report, const GrantFailure& failure, size_t waiting,
                   int max_attempts) const;
  void GrantDiscarded() const;
  void Ended(TerminalReason reason, const absl::Status& status) const;
  void LoopProtected(absl::Duration interval) const;
  void WaiterDeadline() const;
  void StoreFailed(const absl::Status& status) const;
  void CallReplayed() const;
  void CallWaited() const { metrics_.CallWaited(); }
  void CallRejected() const { metrics_.CallRejected(); }
  void CallFailed(absl::StatusCode code) const { metrics_.CallFailed(code); }
  const ManagerMetrics& metrics() const { return metrics_; }

 private:
  void BackendUnreachable(const GrantReport& report, const GrantFailure& failure,
                          size_t waiting) const;
  void Log(const std::string& line) const;
  void Emit(const TokenEvent& event) const;

  const TokenManagerOptions& options_;
  CallbackGate* const gate_;
  const ManagerMetrics metrics_;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_DIAGNOSTICS_H_
