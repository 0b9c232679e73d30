// Server-streaming calls through authrefresh, beside a plain channel, over
// the same in-process server on 127.0.0.1. Variants:
//   P  a plain channel; the application adds the header itself
//   R  authrefresh, server streams replayable (default read-ahead: 8
//      messages / 1 MiB)
//   U  authrefresh with the read-ahead unbounded (SIZE_MAX): what the bound
//      prevents, for comparison only
//
// 1. Memory with a slow reader: one stream of --messages (100,000) replies
//    of 1 KiB, read by a sync reader that spends --work_us (20 µs) of CPU on
//    each message. Heap in use (glibc mallinfo2: uordblks + hblkhd, which
//    includes the in-process server) is sampled every 10,000 messages;
//    reported: after the first message, the highest sample, the last, and
//    the highest minus the first.
// 2. Stream throughput: a 10,000-message stream of 32 B replies read as fast
//    as possible, messages per second; and stream setup: p50 latency of a
//    one-message stream. --reps (5) interleaved repetitions, medians, and the
//    ratio R/P.
//
//   bazel run -c opt //tests/benchmarks:stream_benchmark -- [--messages=100000] [--work_us=20] [--reps=5]

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/create_channel.h"
#include "interceptor/authrefresh.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/mock_servers.h"

namespace authrefresh {
namespace {

int Flag(int argc, char** argv, const char* name, int fallback) {
  const size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') {
      return std::atoi(argv[i] + n + 1);
    }
  }
  return fallback;
}

size_t HeapBytes() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

enum Variant { kP, kR, kU, kCount };
const char* const kNames[] = {"P plain", "R authrefresh", "U unbounded"};

class Channels {
 public:
  Channels() {
    const Token token = servers_.authority().Login();
    header_ = "Bearer " + token.access_token;
    manager_ = TokenManager::Create(
        token,
        MakeGrpcTokenRefresher(grpc::CreateChannel(
            servers_.address(), grpc::InsecureChannelCredentials())));
    stubs_[kP] = test::Echo::NewStub(
        grpc::CreateChannel(servers_.address(), grpc::InsecureChannelCredentials()));
    InterceptorOptions options;
    options.allow_insecure_transport = true;
    // Separate channels (unique args), so no connection is shared.
    grpc::ChannelArguments r_args;
    r_args.SetInt("authrefresh.bench.variant", kR);
    stubs_[kR] = test::Echo::NewStub(CreateAuthRefreshChannel(
        servers_.address(), grpc::InsecureChannelCredentials(), manager_,
        options, r_args));
    options.stream_read_ahead_messages = std::numeric_limits<size_t>::max();
    options.stream_read_ahead_bytes = std::numeric_limits<size_t>::max();
    grpc::ChannelArguments u_args;
    u_args.SetInt("authrefresh.bench.variant", kU);
    stubs_[kU] = test::Echo::NewStub(CreateAuthRefreshChannel(
        servers_.address(), grpc::InsecureChannelCredentials(), manager_,
        options, u_args));
  }

  // Opens a stream of `count` replies with `padding` bytes each.
  std::unique_ptr<grpc::ClientReader<test::EchoReply>> Open(
      Variant v, grpc::ClientContext* ctx, int count, int padding) {
    if (v == kP) ctx->AddMetadata("authorization", header_);
    test::EchoRequest request;
    request.set_count(count);
    request.set_reply_padding(padding);
    return stubs_[v]->Listen(ctx, request);
  }

  TokenManagerStats Stats() { return manager_->Stats(); }
  testing::MockServers& servers() { return servers_; }

 private:
  testing::MockServers servers_;
  std::string header_;
  std::shared_ptr<TokenManager> manager_;
  std::unique_ptr<test::Echo::Stub> stubs_[kCount];
};

void Spin(int micros) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  while (std::chrono::steady_clock::now() < until) {
  }
}

struct MemoryRow {
  size_t first = 0, max = 0, last = 0;
  int received = 0;
  bool ok = false;
};

MemoryRow SlowReader(Channels& ch, Variant v, int messages, int work_us) {
  MemoryRow row;
  grpc::ClientContext ctx;
  auto reader = ch.Open(v, &ctx, messages, 1024);
  test::EchoReply reply;
  while (reader->Read(&reply)) {
    if (reply.index() != row.received) break;  // out of order: reported below
    ++row.received;
    if (row.received == 1) row.first = row.max = HeapBytes();
    if (row.received % 10000 == 0) {
      row.last = HeapBytes();
      row.max = std::max(row.max, row.last);
    }
    Spin(work_us);
  }
  row.ok = reader->Finish().ok() && row.received == messages;
  return row;
}

double Throughput(Channels& ch, Variant v, int messages) {
  grpc::ClientContext ctx;
  auto reader = ch.Open(v, &ctx, messages, 32);
  test::EchoReply reply;
  int n = 0;
  const auto start = std::chrono::steady_clock::now();
  while (reader->Read(&reply)) ++n;
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!reader->Finish().ok() || n != messages) return 0;
  return n / s;
}

double SetupP50Micros(Channels& ch, Variant v, int calls) {
  std::vector<double> us;
  us.reserve(calls);
  for (int i = 0; i < calls; ++i) {
    const auto start = std::chrono::steady_clock::now();
    grpc::ClientContext ctx;
    auto reader = ch.Open(v, &ctx, 1, 32);
    test::EchoReply reply;
    while (reader->Read(&reply)) {
    }
    if (!reader->Finish().ok()) return 0;
    us.push_back(std::chrono::duration<double, std::micro>(
                     std::chrono::steady_clock::now() - start)
                     .count());
  }
  return Median(us);
}

int Run(int messages, int work_us, int reps) {
  Channels ch;
  // Warm every channel up (connection, first-call costs).
  for (int v = 0; v < kCount; ++v) Throughput(ch, static_cast<Variant>(v), 100);
  bool all_ok = true;

  std::printf("1. Slow reader: %d messages of 1 KiB, %d us of work per message\n",
              messages, work_us);
  std::printf("%-15s %12s %12s %12s %14s %s\n", "variant", "first KiB",
              "max KiB", "last KiB", "max-first KiB", "complete");
  for (Variant v : {kP, kR, kU}) {
    MemoryRow row = SlowReader(ch, v, messages, work_us);
    all_ok = all_ok && row.ok;
    std::printf("%-15s %12zu %12zu %12zu %14lld %s\n", kNames[v], row.first / 1024,
                row.max / 1024, row.last / 1024,
                static_cast<long long>(row.max - row.first) / 1024,
                row.ok ? "yes, in order" : "NO");
  }

  std::printf("\n2. Throughput and setup, %d interleaved repetitions (medians)\n", reps);
  std::vector<double> tput[kCount], setup[kCount];
  for (int r = 0; r < reps; ++r) {
    for (Variant v : {kP, kR}) {
      tput[v].push_back(Throughput(ch, v, 10000));
      setup[v].push_back(SetupP50Micros(ch, v, 500));
    }
  }
  for (Variant v : {kP, kR}) {
    for (double x : tput[v]) all_ok = all_ok && x > 0;
    for (double x : setup[v]) all_ok = all_ok && x > 0;
  }
  std::printf("%-15s %16s %18s\n", "variant", "messages/s", "1-message p50 us");
  for (Variant v : {kP, kR}) {
    std::printf("%-15s %16.0f %18.1f\n", kNames[v], Median(tput[v]), Median(setup[v]));
  }
  std::printf("%-15s %16.3f %18.3f\n", "ratio R/P", Median(tput[kR]) / Median(tput[kP]),
              Median(setup[kR]) / Median(setup[kP]));
  const TokenManagerStats stats = ch.Stats();
  std::printf("\nrefreshes=%llu replays=%llu (both must be 0: the token stayed valid)\n",
              static_cast<unsigned long long>(stats.refreshes_started),
              static_cast<unsigned long long>(stats.calls_replayed));
  all_ok = all_ok && stats.refreshes_started == 0 && stats.calls_replayed == 0;
  std::printf("%s\n", all_ok ? "all streams complete" : "FAILED: a stream was incomplete");
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace authrefresh

int main(int argc, char** argv) {
  return authrefresh::Run(authrefresh::Flag(argc, argv, "--messages", 100000),
                          authrefresh::Flag(argc, argv, "--work_us", 20),
                          authrefresh::Flag(argc, argv, "--reps", 5));
}
