// tests/testing/oauth_server.h
//
// Starts tests/oauth_server/server.js, a real OAuth 2.0 authorization server
// (@node-oauth/oauth2-server, installed by bazel/setup.sh), on 127.0.0.1, and
// talks to its test-control endpoints. See server.js for what they do.

#ifndef AUTHREFRESH_TESTS_TESTING_OAUTH_SERVER_H_
#define AUTHREFRESH_TESTS_TESTING_OAUTH_SERVER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/struct.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/node_process.h"

namespace authrefresh {
namespace testing {

// One blocking HTTP exchange (test code only).
struct HttpReply {
  long status = 0;
  std::string body;
  // Response headers, names lowercased, values without surrounding space.
  std::map<std::string, std::string> headers;
};

class OAuthServer {
 public:
  struct Options {
    bool tls = false;  // serve https with the test certificate (test_certs.h)
    // With tls: ask for a client certificate, trusting the test client CA
    // (test_client_certs.h), for tls_client_auth clients.
    bool client_ca = false;
    int access_ttl_seconds = 3600;
  };
  // Starts the server; fails the test (ADD_FAILURE) and returns null with a
  // message saying what to run when node or its modules are missing.
  static std::unique_ptr<OAuthServer> Start(Options options);
  static std::unique_ptr<OAuthServer> Start() { return Start(Options{}); }
  ~OAuthServer();

  // "http(s)://127.0.0.1:<port>"
  std::string base_url() const { return base_url_; }
  std::string token_endpoint() const { return base_url_ + "/token"; }

  struct Session {
    std::string access_token;
    std::string refresh_token;
  };
  // A new session of `client_id` ("confidential-app" or "public-app").
  Session Seed(const std::string& client_id, const std::string& scope = "");
  void ExpireAccessTokens();
  void RevokeSessions();
  // The next `count` token requests get this answer; `body` null drops the
  // connection.
  void Script(int status, const std::string& headers_json, const std::string* body,
              int delay_ms = 0, int count = 1);
  // Counters of server.js's `stats`.
  int Stat(const std::string& name);
  std::string StatString(const std::string& name);
  // All of them, nested objects included.
  google::protobuf::Struct Stats();
  // stats.grants_ok[grant_type] and stats.grants_failed[grant_type].
  int GrantsOk(const std::string& grant_type);
  int GrantsFailed(const std::string& grant_type);

  // A client (POST /test/register-client); registering an id again replaces
  // it. `method`: "client_secret", "none", "private_key_jwt" (with
  // public_key_pem, alg, kid) or "tls_client_auth" (with tls_subject_cn).
  struct Client {
    std::string client_id;
    std::string method;
    std::string secret;
    std::string public_key_pem;
    std::string alg;
    std::string kid;
    std::string tls_subject_cn;
    std::vector<std::string> grants;
    // method "federated": the sub and aud its client assertion must carry
    // (a token from MintSubjectToken).
    std::string federated_subject;
    std::string federated_audience;
  };
  void RegisterClient(const Client& client);
  // The key that verifies JWT-bearer grant assertions from `issuer`.
  void RegisterIssuer(const std::string& issuer, const std::string& public_key_pem,
                      const std::string& alg, const std::string& kid = "");
  // A subject token (a JWT from the server's "cluster" key, as a projected
  // Kubernetes service-account token) for the token-exchange grant.
  struct SubjectToken {
    std::string token;
    std::string jti;
  };
  // `audience` empty: no "aud" claim.
  SubjectToken MintSubjectToken(const std::string& subject, int ttl_seconds = 600,
                                const std::string& audience = "");
  // Real grants wait at the server from HoldGrants() until ReleaseGrants();
  // GrantsWaiting() is how many do now.
  void HoldGrants();
  void ReleaseGrants();
  int GrantsWaiting() { return Stat("grants_waiting"); }
  // Failed grants quote every form value they received in
  // error_description, as a careless server would.
  void EchoErrors(bool on);

  // Raw access for tests: POST application/x-www-form-urlencoded or JSON.
  HttpReply Post(const std::string& path, const std::string& body, const std::string& content_type,
                 const std::string& authorization = "",
                 const std::vector<std::string>& headers = {});
  HttpReply Get(const std::string& path);
  // POST /test/dpop: DPoP at /token ("off", "accept", "require"), its nonce.
  void SetDpop(const std::string& mode, bool require_nonce, bool rotate_nonce = false);
  // The RFC 7638 thumbprint of the key `access_token` is bound to; "" for a
  // Bearer token. `active`: whether the token is live (issued, not expired).
  std::string TokenBinding(const std::string& access_token, bool* active = nullptr);

 private:
  OAuthServer() = default;
  HttpReply Exchange(bool post, const std::string& path, const std::string& body,
                     const std::string& content_type, const std::string& authorization,
                     const std::vector<std::string>& headers = {});
  void PostJson(const std::string& path, const google::protobuf::Struct& body);

  Options options_;
  std::unique_ptr<NodeProcess> process_;
  std::string base_url_;
  std::string cert_dir_;
};

// A gRPC resource server: Echo.Say succeeds when the authorization server's
// introspection accepts the call's bearer token.
class IntrospectingEcho final : public test::Echo::Service {
 public:
  explicit IntrospectingEcho(OAuthServer* oauth) : oauth_(oauth) {}

  // The first `n` calls wait on arrival until `n` have arrived: they all
  // carry the token they were sent with, before any refresh can finish.
  void HoldUntil(int n);
  int hits();
  int rejected();

  grpc::Status Say(grpc::ServerContext* context, const test::EchoRequest* request,
                   test::EchoReply* reply) override;

 private:
  OAuthServer* const oauth_;
  absl::Mutex mu_;
  int hold_ ABSL_GUARDED_BY(mu_) = 0;
  int hits_ ABSL_GUARDED_BY(mu_) = 0;
  int rejected_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_OAUTH_SERVER_H_
