// The experiment behind the replay design for streams and compressed calls:
// what a client interceptor can know, in gRPC 1.51, about the type of the
// response object it would have to fill if it took a call over (Hijack).
//
//   bazel run -c opt //tests/experiments:call_type_probe
//
// A hijacking interceptor answers the application's reads itself, through
// InterceptorBatchMethods::GetRecvMessage(), a void* that it "should
// static_cast to the appropriate type" (grpcpp/support/interceptor.h). For
// a generated stub that object is the response message; for a GenericStub
// call it is a grpc::ByteBuffer. The only description of the call an
// interceptor gets is ClientRpcInfo: method name and type. This prints the
// type and the received-object kind for every call shape through every API
// (tests/testing/call_shapes.h), so the table shows which calls can be told
// apart.

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "grpcpp/create_channel.h"
#include "grpcpp/support/client_interceptor.h"
#include "tests/testing/call_shapes.h"
#include "tests/testing/harness.h"

namespace authrefresh {
namespace {

using grpc::experimental::ClientRpcInfo;

const char* TypeName(ClientRpcInfo::Type t) {
  switch (t) {
    case ClientRpcInfo::Type::UNARY:
      return "UNARY";
    case ClientRpcInfo::Type::CLIENT_STREAMING:
      return "CLIENT_STREAMING";
    case ClientRpcInfo::Type::SERVER_STREAMING:
      return "SERVER_STREAMING";
    case ClientRpcInfo::Type::BIDI_STREAMING:
      return "BIDI_STREAMING";
    default:
      return "UNKNOWN";
  }
}

std::mutex mu;
std::vector<std::string> types;  // guarded by mu: one entry per call

class Recorder final : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override { m->Proceed(); }
};

class RecorderFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(ClientRpcInfo* info) override {
    std::lock_guard<std::mutex> lock(mu);
    types.push_back(TypeName(info->type()));
    return new Recorder;
  }
};

int Run() {
  testing::Harness h;
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<RecorderFactory>());
  auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
      h.servers().address(), grpc::InsecureChannelCredentials(), grpc::ChannelArguments(),
      std::move(factories));
  const std::string auth = "Bearer " + h.manager()->CurrentToken().access_token;
  std::printf("%-26s %-18s %s\n", "call", "ClientRpcInfo", "what the application reads into");
  for (const testing::CallCase& c : testing::AllCallCases()) {
    testing::CallPlan plan;
    plan.prepare = [&](grpc::ClientContext* ctx) { ctx->AddMetadata("authorization", auth); };
    testing::Seen seen = testing::RunCall(channel, c, plan);
    std::string type;
    {
      std::lock_guard<std::mutex> lock(mu);
      type = types.empty() ? "?" : types.back();
    }
    std::printf("%-26s %-18s %s%s\n", testing::CaseName(c).c_str(), type.c_str(),
                c.api == testing::Api::kGeneric ? "grpc::ByteBuffer" : "the response message",
                seen.status.ok() ? "" : " (call failed)");
  }
  return 0;
}

}  // namespace
}  // namespace authrefresh

int main() { return authrefresh::Run(); }
