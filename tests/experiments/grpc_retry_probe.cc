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
// It prints, for each kind of call, how it ended: OK; OK_BUT_REQUESTS_LOST
// (the status was OK, but the server's final attempt read fewer requests
// than the application wrote: Collect answers the count it read, Chat one
// reply per request); or the status code. "(a write failed)" marks calls in
// which one of the application's writes completed with ok == false.
//
// PROBE_CASE=<name> (e.g. ClientStreamGeneric) runs only that kind, and
// every call is bracketed by "PROBE begin/end" lines on stderr, so that
// GRPC_TRACE=retry GRPC_VERBOSITY=DEBUG shows the retry filter's view of
// one failing call.

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
    auto channel =
        grpc::CreateCustomChannel(h.servers().address(), grpc::InsecureChannelCredentials(), args);
    std::map<std::string, std::map<std::string, int>> outcomes;
    for (int round = 0; round < rounds; ++round) {
      for (const testing::CallCase& c : testing::AllCallCases()) {
        const char* only = std::getenv("PROBE_CASE");
        if (only != nullptr && testing::CaseName(c) != only) continue;
        std::fprintf(stderr, "PROBE begin %s round %d\n", testing::CaseName(c).c_str(), round);
        h.echo().FailNext(1, grpc::Status(grpc::StatusCode::UNAVAILABLE, "busy"));
        testing::CallPlan plan;
        plan.text = gzip ? std::string(100000, 'z') : "probe";
        plan.prepare = [&](grpc::ClientContext* ctx) {
          ctx->AddMetadata("authorization", auth);
          ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        };
        testing::Seen seen = testing::RunCall(channel, c, plan);
        std::fprintf(stderr, "PROBE end %s round %d code %d\n", testing::CaseName(c).c_str(), round,
                     static_cast<int>(seen.status.error_code()));
        // What the server's final attempt read: Collect answers the count
        // of requests, Chat one reply per request.
        int received = plan.messages;
        if (c.shape == testing::Shape::kClientStream && !seen.replies.empty()) {
          received = seen.replies[0].index();
        } else if (c.shape == testing::Shape::kBidi) {
          received = static_cast<int>(seen.replies.size());
        }
        std::string outcome = !seen.status.ok()          ? std::to_string(seen.status.error_code())
                              : received < plan.messages ? "OK_BUT_REQUESTS_LOST"
                                                         : "OK";
        if (seen.failed_writes > 0) outcome += "(a write failed)";
        outcomes[testing::CaseName(c)][outcome]++;
      }
    }
    std::printf("%s: %d rounds, retry of UNAVAILABLE, first attempt failed\n",
                gzip ? "gzip, 100 KB request" : "no compression", rounds);
    for (const auto& [name, counts] : outcomes) {
      std::printf("  %-28s", name.c_str());
      for (const auto& [code, n] : counts) {
        const std::string number = code.substr(0, code.find('('));
        const std::string note = code.substr(number.size());
        const std::string label = number == "4"    ? "DEADLINE_EXCEEDED"
                                  : number == "13" ? "INTERNAL"
                                  : number == "14" ? "UNAVAILABLE"
                                                   : number;
        std::printf(" %s%s=%d", label.c_str(), note.c_str(), n);
      }
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace
}  // namespace authrefresh

int main(int argc, char** argv) { return authrefresh::Run(argc > 1 ? std::atoi(argv[1]) : 100); }
