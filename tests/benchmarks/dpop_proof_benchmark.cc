// What one DPoP proof (RFC 9449) costs to make, per algorithm, split into
// its parts: the claims alone (a fresh jti from OpenSSL's CSPRNG, JSON,
// base64url), SHA-256 of the access token for "ath", the signature alone,
// and the whole proof. The per-call DPoP work is one proof; this says which
// part dominates, so that the call path can be designed around it.
//
//   bazel run -c opt //tests/benchmarks:dpop_proof_benchmark -- \
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "interceptor/dpop.h"
#include "interceptor/internal/jws.h"

namespace authrefresh {
namespace {

using internal::JwsAlgorithm;

// A realistic access token: a 900-byte JWT-sized string.
const std::string& AccessToken() {
  static const std::string* token = new std::string(900, 'a');
  return *token;
}
constexpr char kHtu[] = "https://api.example.com/authrefresh.test.Echo/Say";

std::shared_ptr<const DpopKey> Key(DpopKey::Algorithm algorithm) {
  auto key = DpopKey::Generate(algorithm);
  if (!key.ok()) std::abort();
  return *key;
}

void BM_Proof(benchmark::State& state, DpopKey::Algorithm algorithm) {
  const std::shared_ptr<const DpopKey> key = Key(algorithm);
  size_t bytes = 0;
  for (auto _ : state) {
    absl::StatusOr<std::string> proof =
        key->Proof({"POST", kHtu, absl::Now(), "nonce-abc", AccessToken()});
    if (!proof.ok()) state.SkipWithError("proof failed");
    bytes = proof->size();
    benchmark::DoNotOptimize(proof);
  }
  state.counters["proof_bytes"] = static_cast<double>(bytes);
}

// What a call's proof costs: "ath" computed once per token, as the channel
// does (TokenSnapshot::dpop_ath).
void BM_CallProof(benchmark::State& state, DpopKey::Algorithm algorithm) {
  const std::shared_ptr<const DpopKey> key = Key(algorithm);
  const std::string ath = internal::Sha256Base64Url(AccessToken());
  for (auto _ : state) {
    absl::StatusOr<std::string> proof = key->Proof({.method = "POST",
                                                    .uri = kHtu,
                                                    .issued_at = absl::Now(),
                                                    .nonce = "nonce-abc",
                                                    .access_token_hash = ath});
    if (!proof.ok()) state.SkipWithError("proof failed");
    benchmark::DoNotOptimize(proof);
  }
}

// The signature only, over an input the size of a real proof's.
void BM_SignatureOnly(benchmark::State& state, JwsAlgorithm algorithm) {
  auto raw = internal::JwsPrivateKey::Generate(algorithm);
  if (!raw.ok()) std::abort();
  const std::string input(300, 'x');
  for (auto _ : state) {
    absl::StatusOr<std::string> signature = (*raw)->Sign(input);
    benchmark::DoNotOptimize(signature);
  }
}

// Everything but the signature: jti, the claims' JSON, base64url.
void BM_ClaimsWithoutSignature(benchmark::State& state) {
  for (auto _ : state) {
    internal::JsonObject body;
    body.Add("jti", internal::NewJwtId())
        .Add("htm", "POST")
        .Add("htu", kHtu)
        .Add("iat", absl::ToUnixSeconds(absl::Now()))
        .Add("nonce", "nonce-abc");
    std::string encoded = internal::Base64Url(body.Close());
    benchmark::DoNotOptimize(encoded);
  }
}

void BM_AccessTokenHash(benchmark::State& state) {
  for (auto _ : state) {
    std::string ath = internal::Sha256Base64Url(AccessToken());
    benchmark::DoNotOptimize(ath);
  }
}

BENCHMARK_CAPTURE(BM_Proof, ES256, DpopKey::Algorithm::kES256);
BENCHMARK_CAPTURE(BM_Proof, EdDSA, DpopKey::Algorithm::kEdDSA);
BENCHMARK_CAPTURE(BM_Proof, PS256, DpopKey::Algorithm::kPS256);
BENCHMARK_CAPTURE(BM_Proof, RS256, DpopKey::Algorithm::kRS256);
BENCHMARK_CAPTURE(BM_CallProof, ES256, DpopKey::Algorithm::kES256);
BENCHMARK_CAPTURE(BM_CallProof, EdDSA, DpopKey::Algorithm::kEdDSA);
BENCHMARK_CAPTURE(BM_SignatureOnly, ES256, JwsAlgorithm::kES256);
BENCHMARK_CAPTURE(BM_SignatureOnly, EdDSA, JwsAlgorithm::kEdDSA);
BENCHMARK_CAPTURE(BM_SignatureOnly, PS256, JwsAlgorithm::kPS256);
BENCHMARK_CAPTURE(BM_SignatureOnly, RS256, JwsAlgorithm::kRS256);
BENCHMARK(BM_ClaimsWithoutSignature);
BENCHMARK(BM_AccessTokenHash);

}  // namespace
}  // namespace authrefresh

BENCHMARK_MAIN();
