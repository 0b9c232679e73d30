// The cost of authrefresh on the fast path (valid token, no refresh), side by
// side with the floors; see variants.h for A, B, H, P, C and D.
//   BM_SyncUnary / BM_CallbackUnary: one client thread, 32 B and 1 KiB
//     requests; p50 and p99 latency and process CPU per call (client and the
//     in-process server together) as counters.
//   BM_Throughput: 8 client threads, sync 32 B; calls per second.
// After the runs it prints, from the medians of the repetitions, each
// variant's ratios to A and to B, and writes them to --table_out (TSV, for
// tests/benchmarks/plot.gp).
//
//   bazel run -c opt //tests/benchmarks:fast_path_benchmark -- \
//     --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true \
//     --benchmark_min_time=1 --table_out=/tmp/fast_path.tsv

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "tests/benchmarks/variants.h"

namespace authrefresh {
namespace bench {
namespace {

Variants& V() {
  static Variants* v = new Variants();
  return *v;
}

double ProcessCpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

template <typename Call>
void Latency(benchmark::State& state, Call call) {
  Variants& v = V();
  const auto which = static_cast<Variant>(state.range(0));
  test::EchoRequest request;
  request.set_padding(std::string(state.range(1), 'x'));
  std::vector<double> us;
  us.reserve(1 << 16);
  const double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    grpc::Status s = call(v, which, request);
    us.push_back(std::chrono::duration<double, std::micro>(
                     std::chrono::steady_clock::now() - t0)
                     .count());
    if (!s.ok()) state.SkipWithError(s.error_message().c_str());
  }
  const double cpu = ProcessCpuSeconds() - cpu0;
  state.counters["p50_us"] = Percentile(us, 0.50);
  state.counters["p99_us"] = Percentile(us, 0.99);
  state.counters["cpu_us"] = cpu * 1e6 / std::max<double>(1, state.iterations());
  state.SetLabel(VariantName(which));
}

void BM_SyncUnary(benchmark::State& state) { Latency(state, SyncSay); }
void BM_CallbackUnary(benchmark::State& state) { Latency(state, CallbackSay); }

void BM_Throughput(benchmark::State& state) {
  Variants& v = V();
  const auto which = static_cast<Variant>(state.range(0));
  test::EchoRequest request;
  request.set_padding(std::string(32, 'x'));
  for (auto _ : state) {
    grpc::Status s = SyncSay(v, which, request);
    if (!s.ok()) state.SkipWithError(s.error_message().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(VariantName(which));
}

const std::vector<int64_t> kAll = {kA, kB, kH, kP, kC, kATls, kCTls, kDTls};

BENCHMARK(BM_SyncUnary)->ArgsProduct({kAll, {32, 1024}})->UseRealTime();
BENCHMARK(BM_CallbackUnary)->ArgsProduct({kAll, {32, 1024}})->UseRealTime();
BENCHMARK(BM_Throughput)->ArgsProduct({{kA, kB, kH, kP, kC, kATls, kCTls, kDTls}})
    ->Threads(8)
    ->UseRealTime();

// Collects the median aggregates and prints the ratio table at the end.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      // With repetitions only medians count; without, every run.
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      Row& row = rows_[r.run_name.str()];
      row.label = r.report_label;
      for (const char* c : {"p50_us", "p99_us", "cpu_us", "items_per_second"}) {
        auto it = r.counters.find(c);
        if (it != r.counters.end()) row.values[c] = it->second.value;
      }
    }
  }

  // "BM_SyncUnary/2/32/real_time" -> "BM_SyncUnary/<v>/32/real_time".
  static std::string Peer(const std::string& name, int variant) {
    const size_t a = name.find('/');
    const size_t b = name.find('/', a + 1);
    return name.substr(0, a + 1) + std::to_string(variant) +
           (b == std::string::npos ? "" : name.substr(b));
  }

  void PrintTable(const std::string& tsv_path) {
    std::FILE* tsv = tsv_path.empty() ? nullptr : std::fopen(tsv_path.c_str(), "w");
    if (tsv) std::fprintf(tsv, "benchmark\tvariant\tp50_us\tp99_us\tcpu_us\tcalls_per_s\n");
    std::printf("\nMedians; ratios to A (same API, size and transport: A/tls for TLS "
                "variants) and to B:\n");
    for (const auto& [name, row] : rows_) {
      const size_t a = name.find('/');
      const size_t b = name.find('/', a + 1);
      const int variant = std::atoi(name.substr(a + 1, b - a - 1).c_str());
      const bool tls = variant >= kATls;
      const Row* base = Find(Peer(name, tls ? kATls : kA));
      const Row* trivial = tls ? nullptr : Find(Peer(name, kB));
      std::printf("%-44s %-30s", name.c_str(), row.label.c_str());
      for (const char* c : {"p50_us", "p99_us", "cpu_us", "items_per_second"}) {
        auto it = row.values.find(c);
        if (it == row.values.end()) continue;
        std::printf(" %s=%.1f", c, it->second);
        if (base && base->values.count(c)) {
          std::printf(" (%.3fxA", it->second / base->values.at(c));
          if (trivial && trivial->values.count(c)) {
            std::printf(", %.3fxB", it->second / trivial->values.at(c));
          }
          std::printf(")");
        }
      }
      std::printf("\n");
      if (tsv) {
        const std::map<std::string, double>& values = row.values;
        auto get = [&values](const char* c) {
          auto it = values.find(c);
          return it == values.end() ? 0.0 : it->second;
        };
        std::fprintf(tsv, "%s\t%s\t%.2f\t%.2f\t%.2f\t%.0f\n",
                     name.substr(0, name.find("/real_time")).c_str(), row.label.c_str(), get("p50_us"),
                     get("p99_us"), get("cpu_us"), get("items_per_second"));
      }
    }
    if (tsv) std::fclose(tsv);
  }

 private:
  struct Row {
    std::string label;
    std::map<std::string, double> values;
  };
  const Row* Find(const std::string& name) const {
    auto it = rows_.find(name);
    return it == rows_.end() ? nullptr : &it->second;
  }
  std::map<std::string, Row> rows_;
};

}  // namespace
}  // namespace bench
}  // namespace authrefresh

int main(int argc, char** argv) {
  std::string table_out;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--table_out=", 12) == 0) {
      table_out = argv[i] + 12;
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  authrefresh::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintTable(table_out);
  benchmark::Shutdown();
  return 0;
}
