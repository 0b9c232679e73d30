// Instructions per call, by variant (see variants.h), under callgrind:
// sync unary, 32 B, one client thread, valid token. Each variant is warmed
// up, then callgrind's counters are zeroed, kCalls calls are made, and the
// counters are dumped under the variant's name. Counts cover the whole
// process (client, gRPC's threads and the in-process server), so ratios are
// conservative. Outside valgrind the macros do nothing. Beside the calls,
// the parts of a DPoP proof alone ("Z ..." rows): one signature per
// algorithm, and the claims without the signature (jti, JSON, base64url),
// so that the DPoP rows' extra instructions can be set against them.
//
//   tests/benchmarks/instructions.sh [calls] [tsv] [rounds]
//   (builds with -c opt, runs, prints ratios)

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "interceptor/internal/jws.h"
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
    // The parts of a proof, `calls` times each; the input is a real
    // proof's signing input's size.
    const std::string input(330, 'x');
    for (auto [name, algorithm] : {std::pair{"Z signature ES256", authrefresh::internal::JwsAlgorithm::kES256},
                                   std::pair{"Z signature EdDSA", authrefresh::internal::JwsAlgorithm::kEdDSA}}) {
      auto key = authrefresh::internal::JwsPrivateKey::Generate(algorithm);
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
