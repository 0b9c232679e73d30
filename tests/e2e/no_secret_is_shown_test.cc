// No token ever appears in what authrefresh produces: every debug_log line at
// the most verbose setting, every line gRPC logs at DEBUG, every status the
// application sees and every status given to on_session_expired, across
// revocations, storms, transient and terminal failures, malformed responses
// and token services that echo the token they were sent.

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpc/support/log.h"
#include "gtest/gtest.h"
#include "tests/testing/harness.h"

namespace authrefresh {
namespace {

using testing::Harness;
using testing::HarnessOptions;

class Capture {
 public:
  void Add(std::string line) {
    absl::MutexLock lock(&mu_);
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

Capture* g_grpc_log = nullptr;

void CaptureGrpcLog(gpr_log_func_args* args) {
  if (g_grpc_log != nullptr) g_grpc_log->Add(args->message);
}

TEST(Secrets, NoTokenAppearsInLogsOrStatuses) {
  auto lines = std::make_shared<Capture>();
  Capture grpc_log;
  g_grpc_log = &grpc_log;
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_DEBUG);
  gpr_set_log_function(CaptureGrpcLog);

  HarnessOptions options;
  options.manager.debug_log = [lines](absl::string_view l) {
    lines->Add(std::string(l));
  };
  options.manager.on_session_expired = [lines](const absl::Status& s) {
    lines->Add(std::string(s.message()));
  };
  options.manager.initial_backoff = absl::Milliseconds(10);
  options.manager.max_refresh_attempts = 2;
  std::vector<std::string> secrets;
  {
    Harness h(options);
    auto record = [&](const grpc::Status& s) { lines->Add(s.error_message()); };
    auto storm = [&](int n) {
      for (const auto& o : h.Storm(n)) record(o.status);
    };

    // Each step starts from a fresh login, so that loop protection (which
    // covers re-rejections right after a rejection-driven refresh) only
    // applies where a step means it to.
    auto login = [&] { h.manager()->SetToken(h.authority().Login()); };

    // Revocation, replay.
    h.authority().RevokeAccessTokens();
    storm(32);
    // A token service that echoes the refresh token it was sent, twice.
    login();
    const std::string rt = h.manager()->CurrentToken().refresh_token;
    h.tokens().FailNext(2, grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                        "cannot refresh " + rt + " right now"));
    h.authority().RevokeAccessTokens();
    storm(8);
    // A malformed response carrying a token-looking value, then a failure.
    login();
    v1::TokenResponse bad;
    bad.set_access_token("leaked-secret-7f3a9c\r\n");
    bad.set_token_type("Bearer");
    secrets.push_back("leaked-secret-7f3a9c");
    h.tokens().RespondNext(bad);
    h.tokens().FailNext(1, grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
    h.authority().RevokeAccessTokens();
    storm(8);
    storm(8);  // backing off now: fails at once
    // A server that rejects every token: loop protection.
    login();
    h.echo().RejectAll(true);
    storm(16);
    h.echo().RejectAll(false);
    // A dead session, the token echoed in invalid_grant.
    login();
    h.authority().RevokeRefreshTokens();
    h.authority().RevokeAccessTokens();
    h.tokens().FailNext(1, grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                        "invalid_grant: " +
                                            h.manager()->CurrentToken().refresh_token +
                                            " is revoked"));
    storm(8);
    record(h.Say("after expiry"));

    secrets = [&] {
      std::vector<std::string> all = h.authority().AllIssued();
      all.insert(all.end(), secrets.begin(), secrets.end());
      return all;
    }();
    EXPECT_GT(h.manager()->Stats().refreshes_succeeded, 0u);
    EXPECT_EQ(h.manager()->Stats().sessions_expired, 1u);
  }
  gpr_set_log_function(nullptr);
  g_grpc_log = nullptr;

  std::vector<std::string> produced = lines->lines();
  const std::vector<std::string> from_grpc = grpc_log.lines();
  produced.insert(produced.end(), from_grpc.begin(), from_grpc.end());
  // The capture is real: it saw the debug lines and the failures.
  EXPECT_THAT(produced, ::testing::Contains(::testing::HasSubstr("refresh succeeded")));
  EXPECT_THAT(produced, ::testing::Contains(::testing::HasSubstr("session expired")));
  EXPECT_THAT(produced, ::testing::Contains(::testing::HasSubstr("sha256:")));
  EXPECT_GT(secrets.size(), 10u);
  int leaks = 0;
  for (const std::string& line : produced) {
    for (const std::string& secret : secrets) {
      if (line.find(secret) != std::string::npos) {
        // Say which, by fingerprint only: this output must not leak either.
        ADD_FAILURE() << "a token (" << TokenFingerprint(secret)
                      << ") appears in: " << TokenFingerprint(line);
        ++leaks;
      }
    }
  }
  EXPECT_EQ(leaks, 0);
  std::printf("checked %zu lines against %zu tokens\n", produced.size(),
              secrets.size());
}

}  // namespace
}  // namespace authrefresh
