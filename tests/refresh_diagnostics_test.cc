// What a TokenManager reports (internal/refresh_diagnostics): the events and
// log lines of each step, fingerprints only, nothing when nobody listens.

#include "interceptor/internal/refresh_diagnostics.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace authrefresh {
namespace {

using internal::CallbackGate;
using internal::GrantOrder;
using internal::GrantReport;
using internal::RefreshDiagnostics;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class DiagnosticsTest : public ::testing::Test {
 protected:
  DiagnosticsTest() {
    options_.debug_log = [this](absl::string_view line) { lines_.emplace_back(line); };
    options_.on_event = [this](const TokenEvent& e) { events_.push_back(e); };
  }
  TokenManagerOptions options_;
  CallbackGate gate_;
  std::vector<std::string> lines_;
  std::vector<TokenEvent> events_;
};

TEST_F(DiagnosticsTest, AGrantFromStartToSuccessShowsOnlyFingerprints) {
  RefreshDiagnostics d(options_, &gate_);
  d.GrantStarted(GrantOrder{"rt-SECRET", "at-old", 1, absl::UnixEpoch(), true});
  GrantReport report{GrantReport::Outcome::kSucceeded, true, absl::Milliseconds(12), true};
  const absl::Time now = absl::FromUnixSeconds(1000);
  d.GrantSucceeded(report, Token{"at-SECRET", "rt-NEW", now + absl::Seconds(60)}, 3, now);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].kind, TokenEvent::Kind::kRefreshStarted);
  EXPECT_TRUE(events_[0].proactive);
  EXPECT_EQ(events_[0].token_fingerprint, TokenFingerprint("rt-SECRET"));
  EXPECT_EQ(events_[1].kind, TokenEvent::Kind::kRefreshSucceeded);
  EXPECT_EQ(events_[1].duration, absl::Milliseconds(12));
  EXPECT_EQ(events_[1].token_fingerprint, TokenFingerprint("at-SECRET"));
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_EQ(lines_[0], "proactive refresh: the token is inside its refresh margin");
  EXPECT_THAT(lines_[2], HasSubstr("expires in 1m"));
  EXPECT_THAT(lines_[2], HasSubstr("rotated to " + TokenFingerprint("rt-NEW")));
  EXPECT_THAT(lines_[2], HasSubstr("releasing 3 waiting calls"));
  for (const std::string& line : lines_) EXPECT_THAT(line, Not(HasSubstr("SECRET")));
}

TEST_F(DiagnosticsTest, AFailureSaysWhetherItRetriesOrGivesUp) {
  RefreshDiagnostics d(options_, &gate_);
  internal::GrantFailure f =
      internal::ExamineGrantFailure(absl::UnavailableError("down"), true, 3, {});
  GrantReport retry{GrantReport::Outcome::kFailedTransient, false, absl::Seconds(1)};
  retry.round_failures = 1;
  retry.delay = absl::Seconds(2);
  d.GrantFailed(retry, f, 0, 3);
  GrantReport give_up = retry;
  give_up.round_failures = 3;
  give_up.gave_up = true;
  d.GrantFailed(give_up, f, 5, 3);
  EXPECT_THAT(lines_, ElementsAre("refresh failed, transient (1 of 3): UNAVAILABLE: down; "
                                  "retrying in 2s",
                                  "refresh failed, transient (3 of 3): UNAVAILABLE: down; "
                                  "failing 5 waiting calls, backing off 2s"));
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].kind, TokenEvent::Kind::kRefreshFailed);
  EXPECT_FALSE(events_[0].terminal);
  EXPECT_EQ(events_[0].reason, absl::UnavailableError("down"));
}

TEST_F(DiagnosticsTest, AnEndIsAnEventOfItsKind) {
  RefreshDiagnostics d(options_, &gate_);
  d.Ended(TerminalReason::kClientRejected, absl::UnauthenticatedError("rejected this client"));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, TokenEvent::Kind::kClientRejected);
  EXPECT_TRUE(events_[0].terminal);
  EXPECT_THAT(lines_, ElementsAre("rejected this client"));
}

TEST_F(DiagnosticsTest, NothingRunsAfterTheGateClosesOrWhenNobodyListens) {
  RefreshDiagnostics d(options_, &gate_);
  gate_.Close();
  d.CallReplayed();
  d.WaiterDeadline();
  EXPECT_TRUE(events_.empty());
  EXPECT_TRUE(lines_.empty());
  TokenManagerOptions silent;
  CallbackGate gate;
  RefreshDiagnostics quiet(silent, &gate);
  EXPECT_FALSE(quiet.logging());
  quiet.CallReplayed();  // no on_event: nothing to call
  quiet.GrantDiscarded();
}

}  // namespace
}  // namespace authrefresh
