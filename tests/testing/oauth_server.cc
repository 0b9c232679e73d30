#include "tests/testing/oauth_server.h"

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/test_certs.h"

extern char** environ;

namespace authrefresh {
namespace testing {
namespace {

bool Exists(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

std::string FindNode() {
  for (const char* candidate : {"/usr/bin/node", "/usr/local/bin/node"}) {
    if (access(candidate, X_OK) == 0) return candidate;
  }
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':')) {
    std::string candidate = absl::StrCat(dir, "/node");
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// server.js in the runfiles; its real path leads to the source tree, where
// bazel/setup.sh ran `npm ci`.
std::string FindServerScript() {
  const char* srcdir = getenv("TEST_SRCDIR");
  std::string path = absl::StrCat(srcdir ? srcdir : ".",
                                  "/authrefresh/tests/oauth_server/server.js");
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return "";
  return resolved;
}

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
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
  const std::string node = FindNode();
  const std::string script = FindServerScript();
  if (node.empty() || script.empty()) {
    ADD_FAILURE() << "node (" << (node.empty() ? "missing" : node)
                  << ") or tests/oauth_server/server.js ("
                  << (script.empty() ? "missing" : script)
                  << ") not found: run `bash bazel/setup.sh`";
    return nullptr;
  }
  const std::string dir = script.substr(0, script.rfind('/'));
  if (!Exists(dir + "/node_modules/@node-oauth/oauth2-server/package.json")) {
    ADD_FAILURE() << dir << "/node_modules is missing @node-oauth/oauth2-server: "
                  << "run `bash bazel/setup.sh` (it runs `npm ci` there)";
    return nullptr;
  }

  std::unique_ptr<OAuthServer> server(new OAuthServer());
  server->options_ = options;
  std::vector<std::string> args = {node, script,
                                   absl::StrCat("--access-ttl=", options.access_ttl_seconds)};
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
  }

  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) {
    ADD_FAILURE() << "pipe failed: " << errno;
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, in[1]);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = posix_spawn(&server->pid_, node.c_str(), &actions, nullptr,
                             argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  server->stdin_fd_ = in[1];
  if (rc != 0) {
    close(out[0]);
    ADD_FAILURE() << "posix_spawn(" << node << ") failed: " << rc;
    return nullptr;
  }

  // The first line is {"port": N}; wait up to 20 s for it.
  std::string line;
  pollfd pfd{out[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos) {
    if (poll(&pfd, 1, 20000) <= 0) break;
    char buf[256];
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  google::protobuf::Struct hello;
  if (line.find('\n') == std::string::npos ||
      !google::protobuf::util::JsonStringToMessage(line.substr(0, line.find('\n')), &hello)
           .ok() ||
      !hello.fields().contains("port")) {
    ADD_FAILURE() << "the test OAuth server did not start (see its stderr above)";
    return nullptr;
  }
  server->base_url_ =
      absl::StrCat(options.tls ? "https" : "http", "://127.0.0.1:",
                   static_cast<int>(hello.fields().at("port").number_value()));
  return server;
}

OAuthServer::~OAuthServer() {
  if (stdin_fd_ >= 0) close(stdin_fd_);  // server.js exits when stdin closes
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (!cert_dir_.empty()) {
    unlink((cert_dir_ + "/cert.pem").c_str());
    unlink((cert_dir_ + "/key.pem").c_str());
    rmdir(cert_dir_.c_str());
  }
}

HttpReply OAuthServer::Exchange(bool post, const std::string& path,
                                const std::string& body, const std::string& content_type,
                                const std::string& authorization) {
  HttpReply reply;
  CURL* e = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, ("Content-Type: " + content_type).c_str());
  if (!authorization.empty()) {
    headers = curl_slist_append(headers, ("Authorization: " + authorization).c_str());
  }
  const std::string url = base_url_ + path;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  if (post) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &reply.body);
  curl_blob ca{const_cast<char*>(kTestCaPem), strlen(kTestCaPem), CURL_BLOB_COPY};
  if (options_.tls) curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
  const CURLcode rc = curl_easy_perform(e);
  EXPECT_EQ(rc, CURLE_OK) << "test OAuth server " << path << ": " << curl_easy_strerror(rc);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(e);
  return reply;
}

HttpReply OAuthServer::Post(const std::string& path, const std::string& body,
                            const std::string& content_type,
                            const std::string& authorization) {
  return Exchange(true, path, body, content_type, authorization);
}

HttpReply OAuthServer::Get(const std::string& path) {
  return Exchange(false, path, "", "application/json", "");
}

google::protobuf::Struct OAuthServer::Stats() { return ParseJson(Get("/test/stats").body); }

int OAuthServer::Stat(const std::string& name) {
  google::protobuf::Struct s = Stats();
  EXPECT_TRUE(s.fields().contains(name)) << name;
  return s.fields().contains(name) ? static_cast<int>(s.fields().at(name).number_value())
                                   : -1;
}

std::string OAuthServer::StatString(const std::string& name) {
  google::protobuf::Struct s = Stats();
  return s.fields().contains(name) ? s.fields().at(name).string_value() : "";
}

OAuthServer::Session OAuthServer::Seed(const std::string& client_id,
                                       const std::string& scope) {
  HttpReply r = Post("/test/seed",
                     absl::StrCat(R"({"client_id":")", client_id, R"(","scope":")", scope,
                                  R"("})"),
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

void OAuthServer::Script(int status, const std::string& headers_json,
                         const std::string* body, int delay_ms, int count) {
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
                              headers_json.empty() ? "{}" : headers_json,
                              R"(,"body":)", body_json, R"(,"delay_ms":)", delay_ms,
                              R"(,"count":)", count, "}"),
                 "application/json")
                .status,
            200);
}

}  // namespace testing
}  // namespace authrefresh
