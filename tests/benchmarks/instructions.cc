// Instructions per call, by variant (see variants.h), under callgrind:
// sync unary, 32 B, one client thread, valid token. Each variant is warmed
// up, then callgrind's counters are zeroed, kCalls calls are made, and the
// counters are dumped under the variant's name. Counts cover the whole
// process (client, gRPC's threads and the in-process server), so ratios are
// conservative. Outside valgrind the macros do nothing.
//
//   tests/benchmarks/instructions.sh [calls] [tsv] [rounds]
//   (builds with -c opt, runs, prints ratios)

#include <cstdio>
#include <cstdlib>
#include <string>

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
  }
  return 0;
}
