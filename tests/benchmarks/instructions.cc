// Instructions per call, by variant (see variants.h), under callgrind:
// sync unary, 32 B, one client thread, valid token. Each variant is warmed
// up, then callgrind's counters are zeroed, kCalls calls are made, and the
// counters are dumped under the variant's name. Counts cover the whole
// process (client, gRPC's threads and the in-process server), so ratios are
// conservative. Outside valgrind the macros do nothing. Beside the calls,
// the parts of a DPoP proof alone ("Z ..." rows): one signature per
// algorithm over a real proof's signing input, and the claims without the
// signature (jti, JSON, base64url), so that the DPoP rows' extra
// instructions can be set against them.
//
//   tests/benchmarks/instructions.sh [calls] [tsv] [rounds]
//   (builds with -c opt, runs, prints ratios)

#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>

#include "absl/time/clock.h"
#include "interceptor/dpop.h"
#include "interceptor/internal/jws.h"
#include "interceptor/internal/jws_key.h"
#include "tests/benchmarks/variants.h"
#include "valgrind/callgrind.h"

int main(int argc, char** argv) {
  using namespace authrefresh::bench;
  const int calls = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 2;
  Variants v;
  authrefresh::test::EchoRequest request;
  request.set_padding(std::string(32, 'x'));
  for (int round = 0; round < rounds; ++round) {  // interleaved rounds
    for (int i = 0; i < kVariantCount; ++i) {
      const auto which = static_cast<Variant>(i);
      for (int w = 0; w < 200; ++w) {
        if (!SyncSay(v, which, request).ok()) return 1;
      }
      CALLGRIND_ZERO_STATS;
      for (int c = 0; c < calls; ++c) {
        if (!SyncSay(v, which, request).ok()) {
          std::fprintf(stderr, "%s: call failed\n", VariantName(which));
          return 1;
        }
      }
      const std::string tag = std::string(VariantName(which)) + " #" + std::to_string(round);
      CALLGRIND_DUMP_STATS_AT(tag.c_str());
    }
    // The parts of a proof, `calls` times each. The signature signs a real
    // proof's signing input (header and claims as E's and F's calls make
    // them): SHA-256 of it is part of an ES256 signature, and its length
    // decides how many blocks that is.
    using authrefresh::DpopKey;
    using authrefresh::internal::JwsAlgorithm;
    for (auto [name, algorithm, jws] :
         {std::tuple{"Z signature ES256", DpopKey::Algorithm::kES256, JwsAlgorithm::kES256},
          std::tuple{"Z signature EdDSA", DpopKey::Algorithm::kEdDSA, JwsAlgorithm::kEdDSA}}) {
      const std::string proof =
          *(*DpopKey::Generate(algorithm))
               ->Proof({.method = "POST",
                        .uri = "https://127.0.0.1:12345/authrefresh.test.Echo/Say",
                        .issued_at = absl::Now(),
                        .access_token_hash = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"});
      const std::string input = proof.substr(0, proof.rfind('.'));
      auto key = authrefresh::internal::JwsPrivateKey::Generate(jws);
      if (!key.ok()) return 1;
      CALLGRIND_ZERO_STATS;
      for (int c = 0; c < calls; ++c) {
        if (!(*key)->Sign(input).ok()) return 1;
      }
      const std::string tag = std::string(name) + " #" + std::to_string(round);
      CALLGRIND_DUMP_STATS_AT(tag.c_str());
    }
    CALLGRIND_ZERO_STATS;
    for (int c = 0; c < calls; ++c) {
      authrefresh::internal::JsonObject body;
      body.Add("jti", authrefresh::internal::NewJwtId())
          .Add("htm", "POST")
          .Add("htu", "https://localhost:12345/authrefresh.test.Echo/Say")
          .Add("iat", absl::ToUnixSeconds(absl::Now()))
          .Add("ath", "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
      std::string encoded = authrefresh::internal::Base64Url(body.Close());
      if (encoded.empty()) return 1;
    }
    const std::string tag = "Z claims #" + std::to_string(round);
    CALLGRIND_DUMP_STATS_AT(tag.c_str());
  }
  return 0;
}
