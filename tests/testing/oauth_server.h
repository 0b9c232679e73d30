// tests/testing/oauth_server.h
//
// Starts tests/oauth_server/server.js, a real OAuth 2.0 authorization server
// (@node-oauth/oauth2-server, installed by bazel/setup.sh), on 127.0.0.1, and
// talks to its test-control endpoints. See server.js for what they do.

#ifndef AUTHREFRESH_TESTS_TESTING_OAUTH_SERVER_H_
#define AUTHREFRESH_TESTS_TESTING_OAUTH_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "tests/testing/node_process.h"

namespace authrefresh {
namespace testing {

// One blocking HTTP exchange (test code only).
struct HttpReply {
  long status = 0;
  std::string body;
};

class OAuthServer {
 public:
  struct Options {
    bool tls = false;  // serve https with the test certificate (test_certs.h)
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

  // Raw access for tests: POST application/x-www-form-urlencoded or JSON.
  HttpReply Post(const std::string& path, const std::string& body,
                 const std::string& content_type,
                 const std::string& authorization = "");
  HttpReply Get(const std::string& path);

 private:
  OAuthServer() = default;
  HttpReply Exchange(bool post, const std::string& path, const std::string& body,
                     const std::string& content_type, const std::string& authorization);
  google::protobuf::Struct Stats();

  Options options_;
  std::unique_ptr<NodeProcess> process_;
  std::string base_url_;
  std::string cert_dir_;
};

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_OAUTH_SERVER_H_
