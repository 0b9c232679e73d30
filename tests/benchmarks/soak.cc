// Memory across a long run: 8 client threads call without pause while access
// tokens expire every second (one refresh per second), and the server also
// revokes every token every 7 s (replays). Prints the process's RSS every
// 30 s; the first sample, after a 30 s warm-up, is the baseline. Nothing is
// accumulated per call, so a growing RSS would be a leak. Each sample also
// gives the heap in use (glibc mallinfo2), which fragmentation does not
// blur. --plain runs the same load on a plain channel (the application adds
// a long-lived token itself; no expiry, no revocation): the baseline of
// gRPC and the in-process servers.
//
//   bazel run -c opt //tests/benchmarks:soak -- --seconds=600 [--plain]

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "interceptor/authrefresh.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/mock_servers.h"

namespace {

long RssKiB() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

long HeapKiB() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<long>((m.uordblks + m.hblkhd) / 1024);
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 600;
  bool plain = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seconds=", 10) == 0) seconds = std::atoi(argv[i] + 10);
    if (std::strcmp(argv[i], "--plain") == 0) plain = true;
  }
  using namespace authrefresh;
  testing::MockServers::Options server_options;
  server_options.access_ttl = plain ? absl::Hours(2) : absl::Seconds(1);
  testing::MockServers servers(server_options);
  TokenManagerOptions manager_options;
  manager_options.min_refresh_interval = absl::ZeroDuration();
  auto manager = TokenManager::Create(
      servers.authority().Login(),
      MakeGrpcTokenRefresher(
          grpc::CreateChannel(servers.address(), grpc::InsecureChannelCredentials())),
      manager_options);
  InterceptorOptions options;
  options.allow_insecure_transport = true;  // loopback
  const std::string header = "Bearer " + manager->CurrentToken().access_token;
  auto stub = test::Echo::NewStub(
      plain ? grpc::CreateChannel(servers.address(), grpc::InsecureChannelCredentials())
            : CreateAuthRefreshChannel(servers.address(),
                                       grpc::InsecureChannelCredentials(), manager,
                                       options));

  std::atomic<bool> stop{false};
  std::atomic<long long> ok{0}, failed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      test::EchoRequest request;
      request.set_padding(std::string(32, 'x'));
      while (!stop.load()) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        if (plain) ctx.AddMetadata("authorization", header);
        test::EchoReply reply;
        (stub->Say(&ctx, request, &reply).ok() ? ok : failed)++;
      }
    });
  }
  const absl::Time start = absl::Now();
  long baseline = 0, peak = 0, last = 0, heap_baseline = 0, heap_last = 0;
  absl::Time next_revoke = start + absl::Seconds(7);
  for (int t = 30; t <= seconds; t += 30) {
    const absl::Time sample = start + absl::Seconds(t);
    while (absl::Now() < sample) {
      if (!plain && absl::Now() >= next_revoke) {
        servers.authority().RevokeAccessTokens();
        next_revoke += absl::Seconds(7);
      }
      absl::SleepFor(std::min(sample, next_revoke) - absl::Now());  // pacing
    }
    last = RssKiB();
    heap_last = HeapKiB();
    if (baseline == 0) baseline = last;
    if (heap_baseline == 0) heap_baseline = heap_last;
    peak = std::max(peak, last);
    const TokenManagerStats s = manager->Stats();
    std::printf("t=%4ds rss=%ld KiB heap=%ld KiB calls ok=%lld failed=%lld refreshes=%llu "
                "replays=%llu\n",
                t, last, heap_last, ok.load(), failed.load(),
                static_cast<unsigned long long>(s.refreshes_succeeded),
                static_cast<unsigned long long>(s.calls_replayed));
    std::fflush(stdout);
  }
  stop = true;
  for (auto& w : workers) w.join();
  std::printf("summary (%s): %ds, calls ok=%lld failed=%lld, refreshes=%llu, "
              "rss start(30 s)=%ld KiB end=%ld KiB peak=%ld KiB (end/start %.3f), "
              "heap start=%ld KiB end=%ld KiB, token service kept %zu tokens\n",
              plain ? "plain channel" : "authrefresh", seconds, ok.load(), failed.load(),
              static_cast<unsigned long long>(manager->Stats().refreshes_succeeded),
              baseline, last, peak, baseline ? static_cast<double>(last) / baseline : 0.0,
              heap_baseline, heap_last, servers.authority().AllIssued().size());
  return 0;
}
