// An end-to-end fixture: mock servers on 127.0.0.1, a TokenManager that
// refreshes through the real gRPC refresher, and an authrefresh channel.

#ifndef AUTHREFRESH_TESTS_TESTING_HARNESS_H_
#define AUTHREFRESH_TESTS_TESTING_HARNESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "interceptor/authrefresh.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/mock_servers.h"

namespace authrefresh {
namespace testing {

struct HarnessOptions {
  MockServers::Options servers;
  InterceptorOptions interceptor = [] {
    InterceptorOptions o;
    o.allow_insecure_transport = true;  // loopback tests
    return o;
  }();
  TokenManagerOptions manager;
  GrpcTokenRefresherOptions refresher;
  // Where the refresher sends refreshes; empty means the mock TokenService.
  std::string token_service_address;
};

class Harness {
 public:
  explicit Harness(HarnessOptions options = {})
      : options_(options), servers_(options.servers) {
    manager_ = TokenManager::Create(
        servers_.authority().Login(),
        MakeGrpcTokenRefresher(
            options.token_service_address.empty()
                ? grpc::CreateChannel(servers_.address(), ChannelCredentials())
                : grpc::CreateChannel(options.token_service_address,
                                      grpc::InsecureChannelCredentials()),
            options.refresher),
        options.manager);
    channel_ = CreateAuthRefreshChannel(servers_.address(), ChannelCredentials(),
                                        manager_, options.interceptor);
    stub_ = test::Echo::NewStub(channel_);
  }

  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const {
    if (!options_.servers.tls) return grpc::InsecureChannelCredentials();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = MockServers::TestCaPem();
    return grpc::SslCredentials(ssl);
  }

  MockServers& servers() { return servers_; }
  TokenAuthority& authority() { return servers_.authority(); }
  MockTokenService& tokens() { return servers_.tokens(); }
  MockEchoService& echo() { return servers_.echo(); }
  std::shared_ptr<TokenManager>& manager() { return manager_; }
  std::shared_ptr<grpc::Channel>& channel() { return channel_; }
  test::Echo::Stub& stub() { return *stub_; }

  // Drops the application's references (stub, channel, manager), as an
  // application shutting down its client would.
  void DropClient() {
    stub_.reset();
    channel_.reset();
    manager_.reset();
  }

  // The fingerprint the server reports for the manager's current token.
  std::string CurrentFingerprint() const {
    return TokenFingerprint(manager_->CurrentToken().access_token);
  }

  grpc::Status Say(const std::string& text, test::EchoReply* reply = nullptr) {
    grpc::ClientContext ctx;
    test::EchoRequest request;
    request.set_text(text);
    test::EchoReply ignored;
    return stub_->Say(&ctx, request, reply != nullptr ? reply : &ignored);
  }

  struct Outcome {
    grpc::Status status;
    test::EchoReply reply;
  };
  // Starts `n` Say calls at once with the callback API and waits for all.
  std::vector<Outcome> Storm(int n, const std::function<void()>& in_flight = {}) {
    return Storm(*stub_, n, in_flight);
  }
  // `in_flight` runs after every call has started, before waiting for them.
  static std::vector<Outcome> Storm(test::Echo::Stub& stub, int n,
                                    const std::function<void()>& in_flight = {}) {
    std::vector<Outcome> out(n);
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts(n);
    std::vector<test::EchoRequest> requests(n);
    absl::BlockingCounter done(n);
    for (int i = 0; i < n; ++i) {
      contexts[i] = std::make_unique<grpc::ClientContext>();
      requests[i].set_text("storm");
      stub.async()->Say(contexts[i].get(), &requests[i], &out[i].reply,
                          [&out, &done, i](grpc::Status s) {
                            out[i].status = std::move(s);
                            done.DecrementCount();
                          });
    }
    if (in_flight) in_flight();
    done.Wait();
    return out;
  }

 private:
  HarnessOptions options_;
  MockServers servers_;
  std::shared_ptr<TokenManager> manager_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<test::Echo::Stub> stub_;
};

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_HARNESS_H_
