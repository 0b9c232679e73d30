// The experiment behind two of authrefresh's replay rules: what gRPC's own
// retry does, on a plain channel with no authrefresh at all, when a server
// answers the first attempt with a retryable status.
//
//   bazel run -c opt //tests/experiments:grpc_retry_probe -- [rounds]
//
// For each round it makes one call of every shape through every API (see
// tests/testing/call_shapes.h), with a retryPolicy for UNAVAILABLE and the
// server failing the first attempt with UNAVAILABLE, each call with a 2 s
// deadline; then the same with gzip compression and a 100 KB request.
// It prints how many calls of each kind did not end OK, and how.

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "grpc/compression.h"
#include "grpcpp/create_channel.h"
#include "tests/testing/call_shapes.h"
#include "tests/testing/harness.h"

namespace authrefresh {
namespace {

constexpr char kRetryUnavailable[] = R"({"methodConfig":[{"name":[{}],
  "retryPolicy":{"maxAttempts":2,"initialBackoff":"0.001s","maxBackoff":"0.001s",
  "backoffMultiplier":1,"retryableStatusCodes":["UNAVAILABLE"]}}]})";

int Run(int rounds) {
  testing::Harness h;
  const std::string auth = "Bearer " + h.manager()->CurrentToken().access_token;
  for (bool gzip : {false, true}) {
    grpc::ChannelArguments args;
    args.SetServiceConfigJSON(kRetryUnavailable);
    if (gzip) args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
    auto channel = grpc::CreateCustomChannel(h.servers().address(),
                                             grpc::InsecureChannelCredentials(), args);
    std::map<std::string, std::map<std::string, int>> outcomes;
    for (int round = 0; round < rounds; ++round) {
      for (const testing::CallCase& c : testing::AllCallCases()) {
        h.echo().FailNext(1, grpc::Status(grpc::StatusCode::UNAVAILABLE, "busy"));
        testing::CallPlan plan;
        plan.text = gzip ? std::string(100000, 'z') : "probe";
        plan.prepare = [&](grpc::ClientContext* ctx) {
          ctx->AddMetadata("authorization", auth);
          ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        };
        testing::Seen seen = testing::RunCall(channel, c, plan);
        outcomes[testing::CaseName(c)][seen.status.ok()
                                           ? "OK"
                                           : std::to_string(seen.status.error_code())]++;
      }
    }
    std::printf("%s: %d rounds, retry of UNAVAILABLE, first attempt failed\n",
                gzip ? "gzip, 100 KB request" : "no compression", rounds);
    for (const auto& [name, counts] : outcomes) {
      std::printf("  %-28s", name.c_str());
      for (const auto& [code, n] : counts) {
        const char* label = code == "OK"   ? "OK"
                            : code == "4"  ? "DEADLINE_EXCEEDED"
                            : code == "13" ? "INTERNAL"
                            : code == "14" ? "UNAVAILABLE"
                                           : code.c_str();
        std::printf(" %s=%d", label, n);
      }
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace
}  // namespace authrefresh

int main(int argc, char** argv) {
  return authrefresh::Run(argc > 1 ? std::atoi(argv[1]) : 100);
}
