// An application of an installed authrefresh (see CMakeLists.txt and run.sh
// beside this file). It uses the public API for real, with no network: a
// gRPC server of its own on 127.0.0.1 stands in for the API server, and the
// application brings its own TokenRefresher. It checks what authrefresh
// promises and exits 0 only if every check holds:
//  * bearer tokens are refused over a channel without TLS, with
//    UNAUTHENTICATED, before anything is sent and without a refresh
//    (CreateAuthRefreshChannel, and MakeAuthRefreshChannelSetup for a
//    channel built by hand);
//  * with allow_insecure_transport (loopback tests), calls carry the token,
//    and a call without a valid token waits for one refresh;
//  * a misconfiguration is named: channel arguments that turn retries off,
//    an http:// token endpoint for the HTTP refresher;
//  * with AUTHREFRESH_CONSUMER_PROMETHEUS (the CMake builds, which link
//    authrefresh::prometheus_metrics), a refresh is counted in the
//    application's prometheus::Registry.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "interceptor/authrefresh.h"
#include "interceptor/http_token_refresher.h"
#if AUTHREFRESH_CONSUMER_PROMETHEUS
#include "interceptor/prometheus_metrics.h"
#include "prometheus/registry.h"
#endif

namespace {

int passed = 0;
int failed = 0;

void Check(bool ok, const std::string& what, const std::string& detail = "") {
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what.c_str(),
              detail.empty() ? "" : ": ", detail.c_str());
  ++(ok ? passed : failed);
}

std::string Describe(const grpc::Status& s) {
  // gRPC's and Abseil's status codes are the same numbers.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())) +
         (s.error_message().empty() ? "" : " (" + s.error_message() + ")");
}

// The application's own refresher: authrefresh calls it to renew the token.
class AppRefresher final : public authrefresh::TokenRefresher {
 public:
  explicit AppRefresher(std::shared_ptr<std::atomic<int>> calls) : calls_(std::move(calls)) {}

  void Refresh(const authrefresh::GrantRequest& request, Done done) override {
    calls_->fetch_add(1);
    if (request.refresh_token.empty()) {
      done(absl::UnauthenticatedError("no refresh token"));
      return;
    }
    authrefresh::Token token;
    token.access_token = "refreshed-access-token";
    token.issued_at = absl::Now();
    token.expires_at = token.issued_at + absl::Hours(1);
    done(std::move(token));
  }

 private:
  std::shared_ptr<std::atomic<int>> calls_;
};

// The API server: records each call's authorization header, answers
// UNIMPLEMENTED (the base class's reactor).
class RecordingService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    std::string authorization;
    auto it = context->client_metadata().find("authorization");
    if (it != context->client_metadata().end()) {
      authorization.assign(it->second.data(), it->second.size());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_;
      last_authorization_ = std::move(authorization);
    }
    return grpc::CallbackGenericService::CreateReactor(context);
  }

  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::string last_authorization() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_authorization_;
  }

 private:
  std::mutex mu_;
  int calls_ = 0;
  std::string last_authorization_;
};

// One unary call of a method the server does not implement.
grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(std::string("ping"));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/consumer.v1.Api/Get", grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

}  // namespace

int main() {
  const std::string version = authrefresh::Version();
  std::printf("authrefresh %s\n", version.c_str());
  Check(version == AUTHREFRESH_VERSION_STRING && AUTHREFRESH_VERSION_MAJOR == 0 &&
            AUTHREFRESH_VERSION_MINOR >= 5,
        "authrefresh::Version() is the 0.5+ version of the headers", version);

  const std::string fingerprint = authrefresh::TokenFingerprint("a-secret-token");
  Check(fingerprint.rfind("sha256:", 0) == 0 && fingerprint.find("secret") == std::string::npos,
        "TokenFingerprint() shows a hash, not the token", fingerprint);

  RecordingService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterCallbackGenericService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::printf("FAIL could not start the loopback server\n");
    return 1;
  }
  const std::string address = "127.0.0.1:" + std::to_string(port);
  std::printf("API server (no TLS) on %s\n", address.c_str());

  auto refreshes = std::make_shared<std::atomic<int>>(0);
  authrefresh::Token initial;
  initial.access_token = "initial-access-token";
  initial.refresh_token = "initial-refresh-token";
  std::shared_ptr<authrefresh::TokenManager> manager = authrefresh::TokenManager::Create(
      initial, std::make_unique<AppRefresher>(refreshes));
  Check(manager->CurrentToken().access_token == "initial-access-token",
        "TokenManager starts from the application's token");

  // The server is there: a plain channel reaches it.
  grpc::Status status = Call(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  Check(status.error_code() == grpc::StatusCode::UNIMPLEMENTED && service.calls() == 1,
        "a plain channel reaches the server", Describe(status));

  // 1. No bearer token over a channel without TLS.
  status = Call(authrefresh::CreateAuthRefreshChannel(
      address, grpc::InsecureChannelCredentials(), manager));
  Check(status.error_code() == grpc::StatusCode::UNAUTHENTICATED,
        "CreateAuthRefreshChannel without TLS: UNAUTHENTICATED", Describe(status));

  absl::StatusOr<authrefresh::AuthRefreshChannelSetup> setup =
      authrefresh::MakeAuthRefreshChannelSetup(manager);
  Check(setup.ok(), "MakeAuthRefreshChannelSetup", setup.status().ToString());
  if (setup.ok()) {
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        factories;
    factories.push_back(std::move(setup->interceptor));
    status = Call(grpc::experimental::CreateCustomChannelWithInterceptors(
        address, grpc::InsecureChannelCredentials(), setup->args, std::move(factories)));
    Check(status.error_code() == grpc::StatusCode::UNAUTHENTICATED,
          "a hand-built channel without TLS: UNAUTHENTICATED", Describe(status));
  }
  Check(service.calls() == 1 && refreshes->load() == 0,
        "nothing was sent and no refresh started",
        std::to_string(service.calls() - 1) + " calls sent, " +
            std::to_string(refreshes->load()) + " refreshes");

  // 2. Allowed explicitly (loopback), calls carry the token.
  authrefresh::InterceptorOptions cleartext;
  cleartext.allow_insecure_transport = true;
  std::shared_ptr<grpc::Channel> channel = authrefresh::CreateAuthRefreshChannel(
      address, grpc::InsecureChannelCredentials(), manager, cleartext);
  status = Call(channel);
  Check(status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
            service.last_authorization() == "Bearer initial-access-token",
        "with allow_insecure_transport the call carries the token",
        service.last_authorization());

  // A call without a valid token waits for one refresh by the application's refresher.
  authrefresh::Token expired;
  expired.access_token = "expired-access-token";
  expired.refresh_token = "initial-refresh-token";
  expired.expires_at = absl::Now() - absl::Minutes(1);
  manager->SetToken(expired);
  status = Call(channel);
  Check(status.error_code() == grpc::StatusCode::UNIMPLEMENTED && refreshes->load() == 1 &&
            service.last_authorization() == "Bearer refreshed-access-token",
        "an expired token is refreshed once, then sent",
        service.last_authorization() + ", " + std::to_string(refreshes->load()) + " refresh");
  Check(manager->Stats().refreshes_succeeded == 1, "TokenManager::Stats() counts it");

  // 3. Misconfigurations are named.
  grpc::ChannelArguments no_retries;
  no_retries.SetInt("grpc.enable_retries", 0);  // GRPC_ARG_ENABLE_RETRIES
  setup = authrefresh::MakeAuthRefreshChannelSetup(manager, {}, no_retries);
  Check(!setup.ok(), "MakeAuthRefreshChannelSetup refuses grpc.enable_retries=0",
        setup.status().ToString());

  authrefresh::HttpTokenRefresherOptions http;
  http.token_endpoint = "http://127.0.0.1:1/token";
  http.client_id = "consumer";
  http.client_secret = "consumer-secret";
  absl::StatusOr<std::unique_ptr<authrefresh::TokenRefresher>> http_refresher =
      authrefresh::MakeHttpTokenRefresher(http);
  Check(http_refresher.status().code() == absl::StatusCode::kInvalidArgument,
        "MakeHttpTokenRefresher refuses an http:// endpoint",
        http_refresher.status().ToString());
  http.allow_insecure_http = true;
  http_refresher = authrefresh::MakeHttpTokenRefresher(http);
  Check(http_refresher.ok() && *http_refresher != nullptr,
        "... and accepts it with allow_insecure_http", http_refresher.status().ToString());

  // The gRPC refresher is made without contacting anything.
  std::unique_ptr<authrefresh::TokenRefresher> grpc_refresher = authrefresh::MakeGrpcTokenRefresher(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
  Check(grpc_refresher != nullptr, "MakeGrpcTokenRefresher");

#if AUTHREFRESH_CONSUMER_PROMETHEUS
  {
    auto registry = std::make_shared<prometheus::Registry>();
    absl::StatusOr<std::shared_ptr<authrefresh::PrometheusMetrics>> metrics =
        authrefresh::MakePrometheusMetrics(registry);
    Check(metrics.ok(), "MakePrometheusMetrics", metrics.status().ToString());
    authrefresh::TokenManagerOptions with_metrics;
    with_metrics.metrics = {*metrics, "consumer"};
    auto measured = authrefresh::TokenManager::Create(
        authrefresh::Token{"", "initial-refresh-token"}, std::make_unique<AppRefresher>(refreshes),
        with_metrics);
    authrefresh::InterceptorOptions loopback;
    loopback.allow_insecure_transport = true;
    status = Call(authrefresh::CreateAuthRefreshChannel(
        address, grpc::InsecureChannelCredentials(), measured, loopback));
    double counted = -1;
    for (const prometheus::MetricFamily& f : registry->Collect()) {
      if (f.name != "authrefresh_refresh_count_total") continue;
      for (const prometheus::ClientMetric& m : f.metric) {
        bool success_demand = true;
        for (const auto& l : m.label) {
          if ((l.name == "outcome" && l.value != "success") ||
              (l.name == "reason" && l.value != "demand")) {
            success_demand = false;
          }
        }
        if (success_demand) counted = m.counter.value;
      }
    }
    Check(status.error_code() == grpc::StatusCode::UNIMPLEMENTED && counted == 1,
          "the Prometheus registry counts the one refresh",
          "authrefresh_refresh_count_total{outcome=\"success\",reason=\"demand\"} " +
              std::to_string(counted));
  }
#endif

  channel.reset();
  manager.reset();
  server->Shutdown();
  std::printf("consumer: %d passed, %d failed\n", passed, failed);

  return failed == 0 ? 0 : 1;
}
