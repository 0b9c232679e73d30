// The cost of authrefresh on the fast path (valid token, no refresh), side by
// side with the floors, over the same kind of loopback channel:
//   A  a plain channel; the application adds `authorization` itself
//   B  a trivial interceptor that only adds the header (gRPC's interceptor
//      machinery: the floor for any interceptor)
//   C  authrefresh (default mode: every protobuf unary call is hijacked so it
//      can be replayed)
// Sync unary, 32 B and 1 KiB requests, one client thread.
//
//   bazel run -c opt //tests/benchmarks:fast_path_benchmark -- \
//     --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true \
//     --benchmark_report_aggregates_only=true --benchmark_min_time=1

#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/client_interceptor.h"
#include "interceptor/authrefresh.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/mock_servers.h"

namespace authrefresh {
namespace {

class HeaderOnly final : public grpc::experimental::Interceptor {
 public:
  explicit HeaderOnly(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      m->GetSendInitialMetadata()->emplace("authorization", *header_);
    }
    m->Proceed();
  }

 private:
  const std::string* header_;
};

class HeaderOnlyFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit HeaderOnlyFactory(std::string header) : header_(std::move(header)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new HeaderOnly(&header_);
  }

 private:
  std::string header_;
};

// One server and one channel per variant, shared by all benchmarks.
struct Fixture {
  Fixture() {
    token = servers.authority().Login();
    header = "Bearer " + token.access_token;
    plain = test::Echo::NewStub(
        grpc::CreateChannel(servers.address(), grpc::InsecureChannelCredentials()));
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> f;
    f.push_back(std::make_unique<HeaderOnlyFactory>(header));
    trivial = test::Echo::NewStub(grpc::experimental::CreateCustomChannelWithInterceptors(
        servers.address(), grpc::InsecureChannelCredentials(), grpc::ChannelArguments(),
        std::move(f)));
    manager = TokenManager::Create(
        token, MakeGrpcTokenRefresher(grpc::CreateChannel(
                   servers.address(), grpc::InsecureChannelCredentials())));
    InterceptorOptions options;
    options.allow_insecure_transport = true;  // loopback benchmark
    authrefresh = test::Echo::NewStub(CreateAuthRefreshChannel(
        servers.address(), grpc::InsecureChannelCredentials(), manager, options));
  }
  testing::MockServers servers;
  Token token;
  std::string header;
  std::unique_ptr<test::Echo::Stub> plain, trivial, authrefresh;
  std::shared_ptr<TokenManager> manager;
};

Fixture& F() {
  static Fixture* f = new Fixture();
  return *f;
}

enum Variant { kPlain, kTrivial, kAuthrefresh };

void BM_SyncUnary(benchmark::State& state) {
  Fixture& f = F();
  const auto variant = static_cast<Variant>(state.range(0));
  test::Echo::Stub* stub = variant == kPlain     ? f.plain.get()
                           : variant == kTrivial ? f.trivial.get()
                                                 : f.authrefresh.get();
  test::EchoRequest request;
  request.set_padding(std::string(state.range(1), 'x'));
  for (auto _ : state) {
    grpc::ClientContext ctx;
    if (variant == kPlain) ctx.AddMetadata("authorization", f.header);
    test::EchoReply reply;
    grpc::Status s = stub->Say(&ctx, request, &reply);
    if (!s.ok()) state.SkipWithError(s.error_message().c_str());
  }
  state.SetLabel(variant == kPlain ? "A plain" : variant == kTrivial ? "B trivial" : "C authrefresh");
}

BENCHMARK(BM_SyncUnary)
    ->ArgsProduct({{kPlain, kTrivial, kAuthrefresh}, {32, 1024}})
    ->UseRealTime();

}  // namespace
}  // namespace authrefresh

BENCHMARK_MAIN();
