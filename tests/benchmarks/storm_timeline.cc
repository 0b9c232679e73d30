// A storm over time, as an operator's metrics see it: `--inflight` calls
// (callback API, closed loop: each completion starts the next call) run
// against the mock servers; at --revoke_ms the server revokes every access
// token and `--burst` more calls start at once (they do not restart). The
// TokenManager's metrics (interceptor/metrics.h) go to a sink that
// counts them; every millisecond the tool samples calls in flight, calls
// completed, and the cumulative counters call.rejected, call.waited and
// call.replayed, and marks when the one refresh ran (TokenEvents). Writes
// TSV for tests/benchmarks/storm_timeline.gp:
//
//   bazel run -c opt //tests/benchmarks:storm_timeline -- /tmp/storm.tsv
//   gnuplot -e "in='/tmp/storm.tsv'; out='docs/storm_timeline.png'" \
//     tests/benchmarks/storm_timeline.gp
//
// The 1 ms sampling sleep paces the sampler; nothing waits on it.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "interceptor/authrefresh.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/mock_servers.h"

namespace authrefresh {
namespace {

// Counters by instrument name, summed over attributes; nothing else.
class CountingSink : public MetricsSink {
 public:
  std::unique_ptr<Counter> MakeCounter(const MetricInstrument& i,
                                       const MetricAttributes&) override {
    struct C : Counter {
      std::atomic<uint64_t>* n;
      void Add(uint64_t v) override { n->fetch_add(v, std::memory_order_relaxed); }
    };
    auto c = std::make_unique<C>();
    c->n = &counts_[std::string(i.name)];
    return c;
  }
  std::unique_ptr<Histogram> MakeHistogram(const MetricInstrument&,
                                           const MetricAttributes&) override {
    return nullptr;
  }
  std::unique_ptr<Observation> ObserveGauge(const MetricInstrument&, const MetricAttributes&,
                                            Observer) override {
    return nullptr;
  }
  uint64_t count(const std::string& name) { return counts_[name].load(); }

 private:
  std::map<std::string, std::atomic<uint64_t>> counts_;  // made before any Add
};

struct Loop {
  test::Echo::Stub* stub;
  std::atomic<bool> stop{false};
  std::atomic<int> burst_left{0};  // calls that end without starting another
  std::atomic<int> in_flight{0};
  std::atomic<int64_t> completed{0}, failed{0};
};

// One call that starts the next when it completes, until stop.
void Start(Loop* loop) {
  struct Call {
    grpc::ClientContext ctx;
    test::EchoRequest request;
    test::EchoReply reply;
  };
  auto* call = new Call;
  call->request.set_text("storm");
  loop->in_flight.fetch_add(1);
  loop->stub->async()->Say(&call->ctx, &call->request, &call->reply,
                           [loop, call](grpc::Status s) {
                             delete call;
                             loop->in_flight.fetch_sub(1);
                             loop->completed.fetch_add(1);
                             if (!s.ok()) loop->failed.fetch_add(1);
                             if (loop->burst_left.fetch_sub(1) > 0) return;
                             loop->burst_left.fetch_add(1);
                             if (!loop->stop.load()) Start(loop);
                           });
}

int Flag(int argc, char** argv, const std::string& name, int fallback) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i], prefix = "--" + name + "=";
    int v = 0;
    if (arg.rfind(prefix, 0) == 0 && absl::SimpleAtoi(arg.substr(prefix.size()), &v)) return v;
  }
  return fallback;
}

}  // namespace
}  // namespace authrefresh

int main(int argc, char** argv) {
  using namespace authrefresh;
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: storm_timeline OUT.tsv [--inflight=32] [--burst=512] "
                         "[--revoke_ms=100] [--total_ms=400] [--refresh_ms=20]\n");
    return 2;
  }
  const int inflight = Flag(argc, argv, "inflight", 32);
  const int burst = Flag(argc, argv, "burst", 512);
  const int revoke_ms = Flag(argc, argv, "revoke_ms", 100);
  const int total_ms = Flag(argc, argv, "total_ms", 400);
  testing::MockServers servers;
  servers.tokens().set_latency(absl::Milliseconds(Flag(argc, argv, "refresh_ms", 20)));

  auto sink = std::make_shared<CountingSink>();
  absl::Mutex mu;
  std::vector<std::pair<absl::Time, TokenEvent::Kind>> events;  // guarded by mu
  TokenManagerOptions options;
  options.metrics = {sink, "storm"};
  options.on_event = [&](const TokenEvent& e) {
    absl::MutexLock lock(&mu);
    events.emplace_back(absl::Now(), e.kind);
  };
  auto manager = TokenManager::Create(
      servers.authority().Login(),
      MakeGrpcTokenRefresher(
          grpc::CreateChannel(servers.address(), grpc::InsecureChannelCredentials())),
      options);
  InterceptorOptions loopback;
  loopback.allow_insecure_transport = true;  // loopback benchmark
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      servers.address(), grpc::InsecureChannelCredentials(), manager, loopback));

  Loop loop;
  loop.stub = stub.get();
  for (int i = 0; i < inflight; ++i) Start(&loop);
  std::FILE* out = std::fopen(argv[1], "w");
  if (out == nullptr) {
    std::perror(argv[1]);
    return 1;
  }
  std::fprintf(out, "# t_ms\tin_flight\tcompleted\trejected\twaited\treplayed\trefreshing\n");
  const absl::Time start = absl::Now();
  bool revoked = false;
  std::thread burster;
  bool refreshing = false;
  size_t seen_events = 0;
  for (absl::Time t = start; t - start <= absl::Milliseconds(total_ms);
       t += absl::Milliseconds(1)) {
    absl::SleepFor(t - absl::Now());  // pacing the sampler
    if (!revoked && t - start >= absl::Milliseconds(revoke_ms)) {
      servers.authority().RevokeAccessTokens();
      revoked = true;
      loop.burst_left.fetch_add(burst);
      // Started from another thread, so that the sampler keeps sampling.
      burster = std::thread([&loop, burst] {
        for (int i = 0; i < burst; ++i) Start(&loop);
      });
    }
    {
      absl::MutexLock lock(&mu);
      for (; seen_events < events.size(); ++seen_events) {
        const TokenEvent::Kind k = events[seen_events].second;
        if (k == TokenEvent::Kind::kRefreshStarted) refreshing = true;
        if (k == TokenEvent::Kind::kRefreshSucceeded || k == TokenEvent::Kind::kRefreshFailed) {
          refreshing = false;
        }
      }
    }
    std::fprintf(out, "%.1f\t%d\t%lld\t%llu\t%llu\t%llu\t%d\n",
                 absl::ToDoubleMilliseconds(absl::Now() - start), loop.in_flight.load(),
                 static_cast<long long>(loop.completed.load()),
                 static_cast<unsigned long long>(sink->count("authrefresh.call.rejected")),
                 static_cast<unsigned long long>(sink->count("authrefresh.call.waited")),
                 static_cast<unsigned long long>(sink->count("authrefresh.call.replayed")),
                 refreshing ? 1 : 0);
  }
  if (burster.joinable()) burster.join();
  loop.stop = true;
  while (loop.in_flight.load() > 0) absl::SleepFor(absl::Milliseconds(1));  // drain
  std::fclose(out);
  const TokenManagerStats stats = manager->Stats();
  std::printf("in flight %d, burst %d; completed %lld, failed %lld; refreshes %llu; rejected %llu, "
              "waited %llu, replayed %llu; grants at the token service %d\n",
              inflight, burst, static_cast<long long>(loop.completed.load()),
              static_cast<long long>(loop.failed.load()),
              static_cast<unsigned long long>(stats.refreshes_succeeded),
              static_cast<unsigned long long>(sink->count("authrefresh.call.rejected")),
              static_cast<unsigned long long>(sink->count("authrefresh.call.waited")),
              static_cast<unsigned long long>(sink->count("authrefresh.call.replayed")),
              servers.authority().grants());
  return loop.failed.load() == 0 && stats.refreshes_succeeded == 1 ? 0 : 1;
}
