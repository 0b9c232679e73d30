// Mock servers for end-to-end tests and the demo, in one in-process gRPC
// server on 127.0.0.1:
//  * MockTokenService: authrefresh.v1.TokenService as a real authorization
//    server behaves: short-lived access tokens, rotating refresh tokens, and
//    reuse detection (RFC 9700: presenting a used refresh token revokes its
//    whole family). Tests can script failures and hold refreshes.
//  * MockEchoService: a resource service that accepts only live access
//    tokens and counts every hit.
// Replies carry token fingerprints, never tokens.

#ifndef AUTHREFRESH_TESTS_TESTING_MOCK_SERVERS_H_
#define AUTHREFRESH_TESTS_TESTING_MOCK_SERVERS_H_

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "grpcpp/server_context.h"
#include "interceptor/token.h"
#include "protos/token_service.grpc.pb.h"
#include "tests/protos/echo.grpc.pb.h"

namespace authrefresh {
namespace testing {

// Tokens issued by the token service, checked by the resource service.
class TokenAuthority {
 public:
  explicit TokenAuthority(absl::Duration access_ttl) : access_ttl_(access_ttl) {}

  // A fresh login: a new refresh-token family.
  Token Login() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether `access_token` is live now.
  bool Accepts(const std::string& access_token) ABSL_LOCKS_EXCLUDED(mu_);
  // Revokes every access token issued so far (refresh tokens stay valid).
  void RevokeAccessTokens() ABSL_LOCKS_EXCLUDED(mu_);
  // Revokes every refresh token: the session is dead.
  void RevokeRefreshTokens() ABSL_LOCKS_EXCLUDED(mu_);
  void set_access_ttl(absl::Duration ttl) ABSL_LOCKS_EXCLUDED(mu_);
  // What grants answer as expires_in (whole seconds, as OAuth has it),
  // whatever the tokens' real lifetime; zero: the real lifetime.
  void set_advertised_expires_in(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);

  // The refresh-token grant. Rotation always; reuse revokes the family.
  grpc::Status Grant(const std::string& refresh_token, v1::TokenResponse* out)
      ABSL_LOCKS_EXCLUDED(mu_);

  int reuse_detected() ABSL_LOCKS_EXCLUDED(mu_);
  int grants() ABSL_LOCKS_EXCLUDED(mu_);
  // When each successful grant was made.
  std::vector<absl::Time> grant_times() ABSL_LOCKS_EXCLUDED(mu_);
  // Off: a refresh token stays valid after use and is returned again (a
  // service without rotation), so a grant that presents an old one is not
  // reuse. On by default.
  void set_rotation(bool on) ABSL_LOCKS_EXCLUDED(mu_);
  // Every access and refresh token issued so far.
  std::vector<std::string> AllIssued() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct RefreshState {
    int family;
    bool used = false;
  };
  std::string IssueAccessLocked(absl::Time* expires_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewRefreshTokenLocked(int family) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A distinctive suffix, so that tests searching output for tokens cannot
  // match unrelated text.
  std::string SuffixLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  absl::Duration access_ttl_ ABSL_GUARDED_BY(mu_);
  absl::Duration advertised_expires_in_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  int next_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t random_ ABSL_GUARDED_BY(mu_) = 0x9e3779b97f4a7c15ull;
  std::vector<std::string> issued_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> access_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, RefreshState> refresh_ ABSL_GUARDED_BY(mu_);
  std::map<int, bool> family_revoked_ ABSL_GUARDED_BY(mu_);
  int reuse_detected_ ABSL_GUARDED_BY(mu_) = 0;
  int grants_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Time> grant_times_ ABSL_GUARDED_BY(mu_);
  bool rotation_ ABSL_GUARDED_BY(mu_) = true;
};

class MockTokenService final : public v1::TokenService::CallbackService {
 public:
  explicit MockTokenService(TokenAuthority* authority) : authority_(authority) {}

  // The next `n` refreshes fail with `status` (the grant is not made).
  void FailNext(int n, grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // The next refresh answers exactly `response` (e.g. a malformed one).
  void RespondNext(v1::TokenResponse response) ABSL_LOCKS_EXCLUDED(mu_);
  // While held, refreshes wait (without a thread) until Release().
  void Hold() ABSL_LOCKS_EXCLUDED(mu_);
  void Release() ABSL_LOCKS_EXCLUDED(mu_);
  // How many held calls their client has cancelled (or died).
  int held_cancelled() ABSL_LOCKS_EXCLUDED(mu_);
  // Every refresh answers after `latency` (grpc::Alarm, no thread blocked).
  void set_latency(absl::Duration latency) ABSL_LOCKS_EXCLUDED(mu_);

  int calls() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until `n` refreshes have arrived (a real condition, no sleep).
  void AwaitCalls(int n) ABSL_LOCKS_EXCLUDED(mu_);
  int held() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until `n` refreshes are held (a real condition, no sleep).
  void AwaitHeld(int n) ABSL_LOCKS_EXCLUDED(mu_);
  // Calls that arrived carrying an authorization header (must stay 0).
  int calls_with_authorization() ABSL_LOCKS_EXCLUDED(mu_);

  grpc::ServerUnaryReactor* Refresh(grpc::CallbackServerContext* context,
                                    const v1::RefreshRequest* request,
                                    v1::TokenResponse* response) override;

 private:
  struct Held {
    grpc::ServerUnaryReactor* reactor;
    grpc::CallbackServerContext* context;
    std::string refresh_token;
    v1::TokenResponse* response;
  };
  void Answer(grpc::ServerUnaryReactor* reactor, const std::string& refresh_token,
              v1::TokenResponse* response) ABSL_LOCKS_EXCLUDED(mu_);

  TokenAuthority* const authority_;
  absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  int with_authorization_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<grpc::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::optional<v1::TokenResponse> scripted_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Held> held_ ABSL_GUARDED_BY(mu_);
  absl::Duration latency_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

class MockEchoService final : public test::Echo::Service {
 public:
  explicit MockEchoService(TokenAuthority* authority) : authority_(authority) {}

  // Every call is rejected with UNAUTHENTICATED, whatever its token.
  void RejectAll(bool reject) ABSL_LOCKS_EXCLUDED(mu_);
  // Every call is answered with this status (e.g. PERMISSION_DENIED), and
  // with this `www-authenticate` trailer when not empty.
  void AnswerWith(std::optional<grpc::Status> status,
                  std::string www_authenticate = "") ABSL_LOCKS_EXCLUDED(mu_);
  // The next `n` calls are answered with `status` (before the token check).
  void FailNext(int n, grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // While paused, calls wait on arrival (before their token is checked)
  // until Resume(); AwaitPaused(n) blocks until n calls are waiting.
  void Pause() ABSL_LOCKS_EXCLUDED(mu_);
  void Resume() ABSL_LOCKS_EXCLUDED(mu_);
  void AwaitPaused(int n) ABSL_LOCKS_EXCLUDED(mu_);

  // Listen calls whose request sets hold_after wait there until this.
  void ReleaseStreams() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until `n` Listen calls are waiting at hold_after.
  void AwaitHeldStreams(int n) ABSL_LOCKS_EXCLUDED(mu_);
  // Listen calls that ended because a write failed (the client went away).
  int broken_streams() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until `n` accepted Listen calls have ended (any way).
  void AwaitStreamsEnded(int n) ABSL_LOCKS_EXCLUDED(mu_);

  int hits() ABSL_LOCKS_EXCLUDED(mu_);
  int rejected() ABSL_LOCKS_EXCLUDED(mu_);
  // Calls that arrived carrying authrefresh's own marker metadata (must be 0).
  int leaked_markers() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until `n` calls have been rejected (a real condition, no sleep).
  void AwaitRejected(int n) ABSL_LOCKS_EXCLUDED(mu_);
  int accepted() ABSL_LOCKS_EXCLUDED(mu_);
  // The highest attempt number a call reached (1 + the largest
  // grpc-previous-rpc-attempts seen): 2 means some call was replayed once.
  int max_attempt() ABSL_LOCKS_EXCLUDED(mu_);
  // Hits whose `authorization` metadata was exactly `value`.
  int hits_with_authorization(const std::string& value) ABSL_LOCKS_EXCLUDED(mu_);
  // Hits that carried more than one `authorization` entry (must stay 0).
  int hits_with_several_authorizations() ABSL_LOCKS_EXCLUDED(mu_);

  // Say echoes `text`, then "|x-app=<value of the x-app metadata>", the
  // fingerprint of the token it saw, and what it saw of the call (authority,
  // deadline, attempt). Say and Listen send initial metadata
  // "x-initial: <text>" and trailing metadata "x-attempt: <hit number>" and
  // "x-deadline-set: yes|no"; their rejections carry x-attempt too.
  grpc::Status Say(grpc::ServerContext* context, const test::EchoRequest* request,
                   test::EchoReply* reply) override;
  // Listen streams `count` replies (index 0..count-1, `reply_padding` bytes
  // of padding each); see EchoRequest for reject_after and hold_after.
  grpc::Status Listen(grpc::ServerContext* context,
                      const test::EchoRequest* request,
                      grpc::ServerWriter<test::EchoReply>* writer) override;
  grpc::Status Collect(grpc::ServerContext* context,
                       grpc::ServerReader<test::EchoRequest>* reader,
                       test::EchoReply* reply) override;
  grpc::Status Chat(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<test::EchoReply, test::EchoRequest>* stream)
      override;

 private:
  // Counts the hit and checks the token; fills `fingerprint` when accepted.
  grpc::Status Authorize(grpc::ServerContext* context, std::string* fingerprint,
                         int* hit) ABSL_LOCKS_EXCLUDED(mu_);

  TokenAuthority* const authority_;
  absl::Mutex mu_;
  bool reject_all_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> answer_ ABSL_GUARDED_BY(mu_);
  std::string www_authenticate_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool streams_released_ ABSL_GUARDED_BY(mu_) = false;
  int held_streams_ ABSL_GUARDED_BY(mu_) = 0;
  int broken_streams_ ABSL_GUARDED_BY(mu_) = 0;
  int streams_ended_ ABSL_GUARDED_BY(mu_) = 0;
  int hits_ ABSL_GUARDED_BY(mu_) = 0;
  int rejected_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<grpc::Status> failures_ ABSL_GUARDED_BY(mu_);
  int max_attempt_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int> authorizations_ ABSL_GUARDED_BY(mu_);
  int several_authorizations_ ABSL_GUARDED_BY(mu_) = 0;
  int leaked_markers_ ABSL_GUARDED_BY(mu_) = 0;
};

// A server on 127.0.0.1 that answers every method, successfully, with bytes
// that are not a valid protobuf message of any type.
class UnparsableServer {
 public:
  UnparsableServer();
  ~UnparsableServer();
  std::string address() const { return address_; }
  int calls() const { return calls_.load(); }

 private:
  class Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::atomic<int> calls_{0};
};

// gRPC 1.51 keeps one process-wide completion queue for the callback API,
// counts the channels that used it, and tears it down when the count reaches
// zero; a channel that starts a callback call during that teardown races it
// (a double free, or ref_counted.h "prior > 0"). Tests build and destroy
// channels case after case, so MockServers keeps one channel that used the
// callback API for the life of the test binary. Idempotent.
void KeepCallbackQueueAlive();

// Both services on 127.0.0.1:<free port>, insecure or TLS (the checked-in
// test certificate for 127.0.0.1 and localhost).
class MockServers {
 public:
  struct Options {
    absl::Duration access_ttl = absl::Hours(1);
    bool tls = false;
    // Every refresh answers after this (see MockTokenService::set_latency).
    absl::Duration tokens_latency = absl::ZeroDuration();
    // 0: a free port.
    int port = 0;
    // Another MockServers' authority, shared: its tokens are good here too.
    TokenAuthority* authority = nullptr;
  };
  explicit MockServers(Options options);
  MockServers() : MockServers(Options{}) {}
  ~MockServers();

  std::string address() const { return address_; }
  int port() const { return port_; }
  TokenAuthority& authority() { return *authority_; }
  MockTokenService& tokens() { return tokens_; }
  MockEchoService& echo() { return echo_; }

  // PEM of the CA that signed the test server certificate.
  static std::string TestCaPem();

 private:
  TokenAuthority own_authority_;
  TokenAuthority* const authority_;
  MockTokenService tokens_;
  MockEchoService echo_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
};

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_MOCK_SERVERS_H_
