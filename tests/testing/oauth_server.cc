#include "tests/testing/oauth_server.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/test_client_certs.h"

namespace authrefresh {
namespace testing {
namespace {

bool Exists(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t AppendHeader(char* data, size_t size, size_t n, void* out) {
  const absl::string_view line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    (*static_cast<std::map<std::string, std::string>*>(
        out))[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * n;
}

google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok())
      << "test OAuth server sent non-JSON (" << json.size() << " bytes)";
  return s;
}

}  // namespace

std::unique_ptr<OAuthServer> OAuthServer::Start(Options options) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::unique_ptr<OAuthServer> server(new OAuthServer());
  server->options_ = options;
  std::vector<std::string> args = {absl::StrCat("--access-ttl=", options.access_ttl_seconds)};
  if (options.tls) {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string templ = absl::StrCat(tmp ? tmp : "/tmp", "/oauth-certs-XXXXXX");
    if (mkdtemp(templ.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed: " << errno;
      return nullptr;
    }
    server->cert_dir_ = templ;
    std::ofstream(templ + "/cert.pem") << kTestServerCertPem;
    std::ofstream(templ + "/key.pem") << kTestServerKeyPem;
    args.push_back(absl::StrCat("--tls-cert=", templ, "/cert.pem"));
    args.push_back(absl::StrCat("--tls-key=", templ, "/key.pem"));
    if (options.client_ca) {
      std::ofstream(templ + "/client-ca.pem") << kTestClientCaPem;
      args.push_back(absl::StrCat("--client-ca=", templ, "/client-ca.pem"));
    }
  }
  server->process_ = NodeProcess::Start("tests/oauth_server/server.js", std::move(args));
  if (server->process_ == nullptr) return nullptr;
  if (!Exists(server->process_->dir() + "/node_modules/@node-oauth/oauth2-server/package.json")) {
    ADD_FAILURE() << server->process_->dir()
                  << "/node_modules is missing @node-oauth/oauth2-server: "
                  << "run `bash bazel/setup.sh` (it runs `npm ci` there)";
    return nullptr;
  }
  server->base_url_ =
      absl::StrCat(options.tls ? "https" : "http", "://127.0.0.1:", server->process_->port());
  return server;
}

OAuthServer::~OAuthServer() {
  process_.reset();  // stops server.js
  if (!cert_dir_.empty()) {
    unlink((cert_dir_ + "/cert.pem").c_str());
    unlink((cert_dir_ + "/key.pem").c_str());
    unlink((cert_dir_ + "/client-ca.pem").c_str());
    rmdir(cert_dir_.c_str());
  }
}

HttpReply OAuthServer::Exchange(bool post, const std::string& path, const std::string& body,
                                const std::string& content_type, const std::string& authorization,
                                const std::vector<std::string>& extra_headers) {
  HttpReply reply;
  // One handle per thread, reset for each exchange but keeping its
  // connections: a resource server's introspections reuse one TLS session
  // instead of a handshake per call.
  struct ThreadHandle {
    ThreadHandle() : easy(curl_easy_init()) {}
    ~ThreadHandle() { curl_easy_cleanup(easy); }
    CURL* const easy;
  };
  thread_local ThreadHandle handle;
  CURL* e = handle.easy;
  curl_easy_reset(e);
  curl_slist* headers = curl_slist_append(nullptr, ("Content-Type: " + content_type).c_str());
  if (!authorization.empty()) {
    headers = curl_slist_append(headers, ("Authorization: " + authorization).c_str());
  }
  for (const std::string& h : extra_headers) headers = curl_slist_append(headers, h.c_str());
  const std::string url = base_url_ + path;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  // As long as the storm tests' call deadline (60 s): a resource server's
  // introspection queues behind 1000 others at the one-threaded Node server,
  // and under CI's load 10 s was once not enough (220 calls rejected).
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  if (post) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &AppendHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &reply.headers);
  curl_blob ca{const_cast<char*>(kTestCaPem), strlen(kTestCaPem), CURL_BLOB_COPY};
  if (options_.tls) curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
  const CURLcode rc = curl_easy_perform(e);
  EXPECT_EQ(rc, CURLE_OK) << "test OAuth server " << path << ": " << curl_easy_strerror(rc);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  return reply;
}

HttpReply OAuthServer::Post(const std::string& path, const std::string& body,
                            const std::string& content_type, const std::string& authorization,
                            const std::vector<std::string>& headers) {
  return Exchange(true, path, body, content_type, authorization, headers);
}

void OAuthServer::SetDpop(const std::string& mode, bool require_nonce, bool rotate_nonce) {
  const HttpReply r = Post(
      "/test/dpop",
      absl::StrCat("{\"mode\":\"", mode, "\",\"require_nonce\":", require_nonce ? "true" : "false",
                   ",\"rotate_nonce\":", rotate_nonce ? "true" : "false", "}"),
      "application/json");
  EXPECT_EQ(r.status, 200) << "/test/dpop " << mode;
}

std::string OAuthServer::TokenBinding(const std::string& access_token, bool* active) {
  google::protobuf::Struct request;
  (*request.mutable_fields())["access_token"].set_string_value(access_token);
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(request, &json).ok());
  const HttpReply r = Post("/test/token-binding", json, "application/json");
  google::protobuf::Struct answer = ParseJson(r.body);
  if (active != nullptr) {
    *active = answer.fields().contains("active") && answer.fields().at("active").bool_value();
  }
  return answer.fields().contains("jkt") ? answer.fields().at("jkt").string_value() : "";
}

HttpReply OAuthServer::Get(const std::string& path) {
  return Exchange(false, path, "", "application/json", "");
}

google::protobuf::Struct OAuthServer::Stats() { return ParseJson(Get("/test/stats").body); }

int OAuthServer::Stat(const std::string& name) {
  google::protobuf::Struct s = Stats();
  EXPECT_TRUE(s.fields().contains(name)) << name;
  return s.fields().contains(name) ? static_cast<int>(s.fields().at(name).number_value()) : -1;
}

std::string OAuthServer::StatString(const std::string& name) {
  google::protobuf::Struct s = Stats();
  return s.fields().contains(name) ? s.fields().at(name).string_value() : "";
}

int OAuthServer::GrantsOk(const std::string& grant_type) {
  const google::protobuf::Struct s = Stats();
  const auto& counts = s.fields().at("grants_ok").struct_value().fields();
  return counts.contains(grant_type) ? static_cast<int>(counts.at(grant_type).number_value()) : 0;
}

int OAuthServer::GrantsFailed(const std::string& grant_type) {
  const google::protobuf::Struct s = Stats();
  const auto& counts = s.fields().at("grants_failed").struct_value().fields();
  return counts.contains(grant_type) ? static_cast<int>(counts.at(grant_type).number_value()) : 0;
}

void OAuthServer::PostJson(const std::string& path, const google::protobuf::Struct& body) {
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(body, &json).ok());
  HttpReply r = Post(path, json, "application/json");
  EXPECT_EQ(r.status, 200) << path << ": " << r.body;
}

void OAuthServer::RegisterClient(const Client& c) {
  google::protobuf::Struct body;
  auto& f = *body.mutable_fields();
  f["client_id"].set_string_value(c.client_id);
  f["method"].set_string_value(c.method);
  if (!c.secret.empty()) f["secret"].set_string_value(c.secret);
  if (!c.public_key_pem.empty()) f["public_key_pem"].set_string_value(c.public_key_pem);
  if (!c.alg.empty()) f["alg"].set_string_value(c.alg);
  if (!c.kid.empty()) f["kid"].set_string_value(c.kid);
  if (!c.tls_subject_cn.empty()) f["tls_subject_cn"].set_string_value(c.tls_subject_cn);
  if (!c.federated_subject.empty()) f["federated_subject"].set_string_value(c.federated_subject);
  if (!c.federated_audience.empty()) {
    f["federated_audience"].set_string_value(c.federated_audience);
  }
  auto* grants = f["grants"].mutable_list_value();
  for (const std::string& g : c.grants) grants->add_values()->set_string_value(g);
  PostJson("/test/register-client", body);
}

void OAuthServer::RegisterIssuer(const std::string& issuer, const std::string& public_key_pem,
                                 const std::string& alg, const std::string& kid) {
  google::protobuf::Struct body;
  auto& f = *body.mutable_fields();
  f["issuer"].set_string_value(issuer);
  f["public_key_pem"].set_string_value(public_key_pem);
  f["alg"].set_string_value(alg);
  if (!kid.empty()) f["kid"].set_string_value(kid);
  PostJson("/test/register-issuer", body);
}

OAuthServer::SubjectToken OAuthServer::MintSubjectToken(const std::string& subject, int ttl_seconds,
                                                        const std::string& audience) {
  google::protobuf::Struct body;
  auto& f = *body.mutable_fields();
  f["sub"].set_string_value(subject);
  f["ttl_s"].set_number_value(ttl_seconds);
  if (!audience.empty()) f["aud"].set_string_value(audience);
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(body, &json).ok());
  HttpReply r = Post("/test/mint-subject-token", json, "application/json");
  EXPECT_EQ(r.status, 200);
  google::protobuf::Struct s = ParseJson(r.body);
  return SubjectToken{s.fields().at("token").string_value(), s.fields().at("jti").string_value()};
}

void OAuthServer::HoldGrants() {
  EXPECT_EQ(Post("/test/hold-grants", "{}", "application/json").status, 200);
}

void OAuthServer::ReleaseGrants() {
  EXPECT_EQ(Post("/test/release-grants", "{}", "application/json").status, 200);
}

void OAuthServer::EchoErrors(bool on) {
  EXPECT_EQ(Post("/test/echo-errors", on ? R"({"on":true})" : R"({"on":false})", "application/json")
                .status,
            200);
}

OAuthServer::Session OAuthServer::Seed(const std::string& client_id, const std::string& scope) {
  HttpReply r = Post("/test/seed",
                     absl::StrCat(R"({"client_id":")", client_id, R"(","scope":")", scope, R"("})"),
                     "application/json");
  EXPECT_EQ(r.status, 200);
  google::protobuf::Struct s = ParseJson(r.body);
  return Session{s.fields().at("access_token").string_value(),
                 s.fields().at("refresh_token").string_value()};
}

void OAuthServer::ExpireAccessTokens() {
  EXPECT_EQ(Post("/test/expire-access", "{}", "application/json").status, 200);
}

void OAuthServer::RevokeSessions() {
  EXPECT_EQ(Post("/test/revoke-sessions", "{}", "application/json").status, 200);
}

void OAuthServer::Script(int status, const std::string& headers_json, const std::string* body,
                         int delay_ms, int count) {
  std::string body_json = "null";
  if (body != nullptr) {
    google::protobuf::Value v;
    v.set_string_value(*body);
    std::string encoded;
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(v, &encoded).ok());
    body_json = encoded;
  }
  EXPECT_EQ(Post("/test/script",
                 absl::StrCat(R"({"status":)", status, R"(,"headers":)",
                              headers_json.empty() ? "{}" : headers_json, R"(,"body":)", body_json,
                              R"(,"delay_ms":)", delay_ms, R"(,"count":)", count, "}"),
                 "application/json")
                .status,
            200);
}

void IntrospectingEcho::HoldUntil(int n) {
  absl::MutexLock lock(&mu_);
  hold_ = n;
}

int IntrospectingEcho::hits() {
  absl::MutexLock lock(&mu_);
  return hits_;
}

int IntrospectingEcho::rejected() {
  absl::MutexLock lock(&mu_);
  return rejected_;
}

grpc::Status IntrospectingEcho::Say(grpc::ServerContext* context, const test::EchoRequest* request,
                                    test::EchoReply* reply) {
  {
    absl::MutexLock lock(&mu_);
    ++hits_;
    auto all_arrived = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return hits_ >= hold_; };
    mu_.Await(absl::Condition(&all_arrived));
  }
  auto it = context->client_metadata().find("authorization");
  const std::string authorization = it == context->client_metadata().end()
                                        ? ""
                                        : std::string(it->second.data(), it->second.size());
  if (oauth_->Post("/introspect", "", "application/json", authorization).status != 200) {
    absl::MutexLock lock(&mu_);
    ++rejected_;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid or expired token");
  }
  reply->set_text(request->text());
  return grpc::Status::OK;
}

}  // namespace testing
}  // namespace authrefresh
