// What one token-endpoint request costs to build, per client authentication
// and grant: the form alone (client secret), a fresh client assertion signed
// with RS256 or ES256 (private_key_jwt), a JWT-bearer grant assertion, and a
// subject token read from its file (token exchange). This is the CPU a grant
// adds before the network; it runs on the refresher's worker, never on a
// call's thread.
//
//   bazel run -c opt //tests/benchmarks:grant_request_benchmark -- \
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "benchmark/benchmark.h"
#include "interceptor/internal/token_request.h"
#include "tests/testing/test_keys.h"

namespace authrefresh {
namespace {

using internal::AssertionSpec;
using internal::TokenRequestSpec;

std::shared_ptr<const internal::JwtSigner> Signer(internal::JwsAlgorithm alg) {
  const testing::KeyKind kind = alg == internal::JwsAlgorithm::kES256
                                    ? testing::KeyKind::kEcP256
                                    : testing::KeyKind::kRsa2048;
  auto signer = internal::JwtSigner::Create(
      {alg, testing::GenerateKey(kind).private_pem, "kid-1", ""}, "benchmark");
  if (!signer.ok()) std::abort();
  return *signer;
}

void Run(benchmark::State& state, const TokenRequestSpec& spec) {
  const GrantRequest request{"rt-benchmark"};
  size_t bytes = 0;
  for (auto _ : state) {
    absl::StatusOr<internal::TokenRequestBody> body =
        internal::BuildTokenRequest(spec, request, absl::Now());
    if (!body.ok()) state.SkipWithError("BuildTokenRequest failed");
    bytes = body->form.size();
    benchmark::DoNotOptimize(body);
  }
  state.counters["form_bytes"] = static_cast<double>(bytes);
}

TokenRequestSpec ClientCredentials() {
  TokenRequestSpec spec;
  spec.grant_type = "client_credentials";
  spec.parameters = {{"scope", "read write"}, {"client_id", "svc"}};
  return spec;
}

void BM_ClientSecret(benchmark::State& state) {
  TokenRequestSpec spec = ClientCredentials();
  spec.parameters.emplace_back("client_secret", "a-client-secret");
  Run(state, spec);
}
BENCHMARK(BM_ClientSecret);

void BM_PrivateKeyJwtRS256(benchmark::State& state) {
  TokenRequestSpec spec = ClientCredentials();
  spec.client_assertion = AssertionSpec{Signer(internal::JwsAlgorithm::kRS256), "svc", "svc",
                                        "https://as.test/token", absl::Seconds(60), {}};
  Run(state, spec);
}
BENCHMARK(BM_PrivateKeyJwtRS256);

void BM_PrivateKeyJwtES256(benchmark::State& state) {
  TokenRequestSpec spec = ClientCredentials();
  spec.client_assertion = AssertionSpec{Signer(internal::JwsAlgorithm::kES256), "svc", "svc",
                                        "https://as.test/token", absl::Seconds(60), {}};
  Run(state, spec);
}
BENCHMARK(BM_PrivateKeyJwtES256);

void BM_JwtBearerES256(benchmark::State& state) {
  TokenRequestSpec spec;
  spec.grant_type = "urn:ietf:params:oauth:grant-type:jwt-bearer";
  spec.grant_assertion = AssertionSpec{Signer(internal::JwsAlgorithm::kES256), "robot", "robot",
                                       "https://as.test/token", absl::Minutes(5),
                                       {{"scope", "read"}}};
  Run(state, spec);
}
BENCHMARK(BM_JwtBearerES256);

void BM_TokenExchangeFromFile(benchmark::State& state) {
  const char* dir = getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/grant-benchmark-subject";
  std::ofstream(path) << std::string(900, 'x');  // a projected token's size
  TokenRequestSpec spec;
  spec.grant_type = "urn:ietf:params:oauth:grant-type:token-exchange";
  spec.file_parameters = {{"subject_token", path}};
  spec.parameters = {{"subject_token_type", "urn:ietf:params:oauth:token-type:jwt"}};
  Run(state, spec);
  unlink(path.c_str());
}
BENCHMARK(BM_TokenExchangeFromFile);

}  // namespace
}  // namespace authrefresh

BENCHMARK_MAIN();
