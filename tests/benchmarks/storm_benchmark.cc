// Two measurements that no microbenchmark shows:
//
// Storm: N calls (1000) start at once right after the server revoked their
// token; the refresh takes about 20 ms at the token service. Reported per
// round: refreshes (must be 1), failures (must be 0), replays, server hits,
// and the time until every call completed, against the ideal measured in
// the same run: one refresh round trip plus two round trips of the same N
// calls with a valid token (the rejected wave and the replayed wave).
//
// Memory: heap bytes per call waiting for a refresh (10k calls, callback
// API, 32 B requests), from glibc's mallinfo2() before and after the calls
// start waiting; the application's own ClientContext, request and reply are
// allocated before the first reading and not counted.
//
//   bazel run -c opt //tests/benchmarks:storm_benchmark -- [--calls=1000] [--rounds=5] [--waiting=10000]
//
// Where a waiting call's bytes go (gRPC sizes each call's arena from what the
// channel's earlier calls used, so heap totals move by several KB between
// runs): `--waiting_only --massif_prefix=/tmp/ms` under
// `valgrind --tool=massif --vgdb=yes` writes allocation trees before and
// while the calls wait; tests/benchmarks/waiting_memory.sh does that and
// splits each call's bytes into gRPC's call arena and everything else.

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "valgrind/valgrind.h"
#include "grpc/grpc_security.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/client_interceptor.h"
#include "interceptor/authrefresh.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/mock_servers.h"

namespace authrefresh {
namespace {

// Counts completions; Wait() returns when `n` calls have completed.
class Countdown {
 public:
  explicit Countdown(int n) : left_(n) {}
  void Done(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ok) ++failed_;
    if (--left_ == 0) cv_.notify_all();
  }
  int Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return left_ == 0; });
    return failed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int left_;
  int failed_ = 0;
};

struct Call {
  grpc::ClientContext context;
  test::EchoRequest request;
  test::EchoReply reply;
};

// Starts `calls` (already allocated) at once; returns failures.
int Burst(test::Echo::Stub& stub, std::vector<std::unique_ptr<Call>>& calls,
          const std::function<void()>& while_waiting = {}) {
  Countdown countdown(static_cast<int>(calls.size()));
  for (auto& c : calls) {
    stub.async()->Say(&c->context, &c->request, &c->reply,
                      [&countdown](grpc::Status s) { countdown.Done(s.ok()); });
  }
  if (while_waiting) while_waiting();
  return countdown.Wait();
}

std::vector<std::unique_ptr<Call>> MakeCalls(int n) {
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < n; ++i) {
    calls.push_back(std::make_unique<Call>());
    calls.back()->context.set_deadline(std::chrono::system_clock::now() +
                                       std::chrono::seconds(60));
    calls.back()->request.set_padding(std::string(32, 'x'));
  }
  return calls;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int Flag(int argc, char** argv, const char* name, int fallback) {
  const size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') return std::atoi(argv[i] + n + 1);
  }
  return fallback;
}

// Under valgrind --tool=massif with --vgdb=yes, writes a detailed snapshot
// (allocation tree) to `<prefix>.<name>`; elsewhere does nothing. Set by
// --massif_prefix=PATH, to see which allocations make up a waiting call.
const char* g_massif_prefix = nullptr;
void MassifSnapshot(const char* name) {
  if (g_massif_prefix == nullptr || !RUNNING_ON_VALGRIND) return;
  char command[512];
  std::snprintf(command, sizeof(command), "detailed_snapshot %s.%s", g_massif_prefix, name);
  VALGRIND_MONITOR_COMMAND(command);
}

size_t HeapBytes() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

int Storm(int n, int rounds) {
  testing::MockServers servers;
  servers.tokens().set_latency(absl::Milliseconds(20));
  TokenManagerOptions options;
  options.min_refresh_interval = absl::ZeroDuration();  // a revocation per round
  auto refresher_channel =
      grpc::CreateChannel(servers.address(), grpc::InsecureChannelCredentials());
  auto manager = TokenManager::Create(servers.authority().Login(),
                                      MakeGrpcTokenRefresher(refresher_channel), options);
  InterceptorOptions loopback;
  loopback.allow_insecure_transport = true;
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      servers.address(), grpc::InsecureChannelCredentials(), manager, loopback));
  auto token_stub = v1::TokenService::NewStub(refresher_channel);

  std::printf("storm: %d calls per round, refresh latency 20 ms at the token service\n", n);
  std::vector<double> storm_ms, ideal_ms, literal_ms;
  bool all_good = true;
  for (int round = 0; round < rounds; ++round) {
    // The ideal's parts, measured now: a refresh round trip, a wave of n
    // calls with a valid token, and one call alone.
    Token current = manager->CurrentToken();
    servers.authority().RevokeAccessTokens();  // so the direct refresh is real
    absl::Time t0 = absl::Now();
    {
      grpc::ClientContext ctx;
      v1::RefreshRequest req;
      req.set_refresh_token(current.refresh_token);
      v1::TokenResponse resp;
      if (!token_stub->Refresh(&ctx, req, &resp).ok()) return 1;
      current.access_token = resp.access_token();
      if (!resp.refresh_token().empty()) current.refresh_token = resp.refresh_token();
      current.expires_at = absl::InfiniteFuture();
    }
    const double refresh_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
    manager->SetToken(current);  // the fresh token from that refresh
    auto warm = MakeCalls(n);
    t0 = absl::Now();
    if (Burst(*stub, warm) != 0) return 1;
    const double wave_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
    auto single = MakeCalls(1);
    t0 = absl::Now();
    if (Burst(*stub, single) != 0) return 1;
    const double single_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);

    // The storm.
    const int grants_before = servers.tokens().calls();
    const uint64_t replays_before = manager->Stats().calls_replayed;
    const int hits_before = servers.echo().hits();
    servers.authority().RevokeAccessTokens();
    auto calls = MakeCalls(n);
    t0 = absl::Now();
    const int failed = Burst(*stub, calls);
    const double total_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
    const int refreshes = servers.tokens().calls() - grants_before;
    const double ideal = refresh_ms + 2 * wave_ms;
    std::printf(
        "round %d: refreshes=%d failed=%d replays=%llu hits=%d | all done in %.1f ms; "
        "ideal %.1f ms (refresh %.1f + 2 x wave %.1f) -> %.2fx; "
        "literal ideal (refresh + 2 x one call %.2f) %.1f ms\n",
        round + 1, refreshes, failed,
        static_cast<unsigned long long>(manager->Stats().calls_replayed - replays_before),
        servers.echo().hits() - hits_before, total_ms, ideal, refresh_ms, wave_ms,
        total_ms / ideal, single_ms, refresh_ms + 2 * single_ms);
    all_good = all_good && refreshes == 1 && failed == 0;
    storm_ms.push_back(total_ms);
    ideal_ms.push_back(ideal);
    literal_ms.push_back(refresh_ms + 2 * single_ms);
  }
  std::printf("storm median: %.1f ms vs ideal %.1f ms = %.2fx (literal ideal %.1f ms = %.2fx); %s\n",
              Median(storm_ms), Median(ideal_ms), Median(storm_ms) / Median(ideal_ms),
              Median(literal_ms), Median(storm_ms) / Median(literal_ms),
              all_good ? "every round: 1 refresh, 0 failed" : "FAILED: a round had !=1 refresh or failures");
  return all_good ? 0 : 1;
}

int Waiting(int n, double* per_call) {
  testing::MockServers servers;
  auto manager = TokenManager::Create(
      servers.authority().Login(),
      MakeGrpcTokenRefresher(
          grpc::CreateChannel(servers.address(), grpc::InsecureChannelCredentials())));
  InterceptorOptions options;
  options.allow_insecure_transport = true;
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      servers.address(), grpc::InsecureChannelCredentials(), manager, options));
  {  // warm the channel up (connection, first-call allocations)
    auto warm = MakeCalls(64);
    if (Burst(*stub, warm) != 0) return 1;
  }
  servers.tokens().Hold();  // the refresh will wait at the token service
  Token expired = manager->CurrentToken();
  expired.expires_at = absl::Now() - absl::Seconds(1);
  manager->SetToken(expired);

  auto calls = MakeCalls(n);
  malloc_trim(0);
  MassifSnapshot("authrefresh.before");
  const size_t before = HeapBytes();
  size_t during = 0;
  const uint64_t waited_before = manager->Stats().calls_waited;
  const int failed = Burst(*stub, calls, [&] {
    // Every call is registered as waiting (a real condition, polled).
    while (manager->Stats().calls_waited - waited_before < static_cast<uint64_t>(n)) {
      std::this_thread::yield();
    }
    during = HeapBytes();
    MassifSnapshot("authrefresh.during");
    servers.tokens().Release();
  });
  std::printf("waiting (authrefresh): %d calls waiting for a refresh: %.0f heap bytes "
              "per call (%zu -> %zu); after the refresh: %d failed\n",
              n, (static_cast<double>(during) - before) / n, before, during, failed);
  *per_call = (static_cast<double>(during) - before) / n;
  return failed == 0 ? 0 : 1;
}

// gRPC's own cost of a pending call, for comparison: the same calls on a
// plain channel, wait_for_ready, to a port where nothing listens, so each
// stays queued in gRPC's client. Returns heap bytes per call.
double GrpcPendingCallBytes(int n) {
  testing::MockServers servers;  // only to get a free port, then gone
  std::string address = servers.address();
  {
    testing::MockServers other;
    address = other.address();
  }  // now nothing listens there
  auto stub = test::Echo::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto calls = MakeCalls(n);
  for (auto& c : calls) {
    c->context.set_wait_for_ready(true);
    c->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  malloc_trim(0);
  const size_t before = HeapBytes();
  size_t during = 0;
  Burst(*stub, calls, [&] { during = HeapBytes(); });  // all fail at their deadline
  const double per_call = (static_cast<double>(during) - before) / n;
  std::printf("baseline: %d plain calls pending inside gRPC (wait_for_ready, no server): "
              "%.0f heap bytes per call\n", n, per_call);
  return per_call;
}

// The floor for any design that holds a call in its credentials, as
// authrefresh does while a call waits for a refresh: an interceptor that
// gives each call credentials whose plugin keeps every request pending
// (gRPC's asynchronous plugin API) until released, and nothing else, on a
// channel warmed up by the same 64 calls as authrefresh's (gRPC sizes each
// new call's arena from the calls the channel has seen).
class Parking {
 public:
  class Interceptor final : public grpc::experimental::Interceptor {
   public:
    Interceptor(Parking* p, grpc::experimental::ClientRpcInfo* info) : p_(p), info_(info) {}
    void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
      using grpc::experimental::InterceptionHookPoints;
      if (p_->parking.load() &&
          m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
        grpc_metadata_credentials_plugin plugin{};
        plugin.get_metadata = &Parking::Park;
        plugin.state = p_;
        plugin.type = "parking";
        grpc_call_credentials* creds =
            grpc_metadata_credentials_create_from_plugin(plugin, GRPC_SECURITY_NONE, nullptr);
        grpc_call_set_credentials(info_->client_context()->c_call(), creds);
        grpc_call_credentials_release(creds);
      }
      m->Proceed();
    }

   private:
    Parking* const p_;
    grpc::experimental::ClientRpcInfo* const info_;
  };
  class Factory final : public grpc::experimental::ClientInterceptorFactoryInterface {
   public:
    explicit Factory(Parking* p) : p_(p) {}
    grpc::experimental::Interceptor* CreateClientInterceptor(
        grpc::experimental::ClientRpcInfo* info) override {
      return new Interceptor(p_, info);
    }

   private:
    Parking* const p_;
  };

  static int Park(void* state, grpc_auth_metadata_context,
                  grpc_credentials_plugin_metadata_cb cb, void* user_data,
                  grpc_metadata*, size_t*, grpc_status_code*, const char**) {
    auto* p = static_cast<Parking*>(state);
    std::lock_guard<std::mutex> lock(p->mu);
    p->parked.emplace_back(cb, user_data);
    return 0;  // answered later, by Release()
  }

  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return parked.size();
  }
  // Fails every parked request (on this thread, not a plugin's).
  void Release() {
    std::vector<std::pair<grpc_credentials_plugin_metadata_cb, void*>> all;
    {
      std::lock_guard<std::mutex> lock(mu);
      all.swap(parked);
    }
    for (auto& [cb, user_data] : all) cb(user_data, nullptr, 0, GRPC_STATUS_UNAVAILABLE, "released");
  }

  std::atomic<bool> parking{false};
  std::mutex mu;
  std::vector<std::pair<grpc_credentials_plugin_metadata_cb, void*>> parked;
};

double ParkedCallBytes(int n) {
  testing::MockServers servers;
  Parking parking;
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      factories;
  factories.push_back(std::make_unique<Parking::Factory>(&parking));
  auto stub = test::Echo::NewStub(grpc::experimental::CreateCustomChannelWithInterceptors(
      servers.address(), grpc::InsecureChannelCredentials(), grpc::ChannelArguments(),
      std::move(factories)));
  const std::string header = "Bearer " + servers.authority().Login().access_token;
  {  // warm the channel up with the same 64 calls
    auto warm = MakeCalls(64);
    for (auto& c : warm) c->context.AddMetadata("authorization", header);
    if (Burst(*stub, warm) != 0) return -1;
  }
  parking.parking = true;
  auto calls = MakeCalls(n);
  malloc_trim(0);
  MassifSnapshot("floor.before");
  const size_t before = HeapBytes();
  size_t during = 0;
  Burst(*stub, calls, [&] {
    while (parking.count() < static_cast<size_t>(n)) std::this_thread::yield();
    during = HeapBytes();
    MassifSnapshot("floor.during");
    parking.Release();
  });
  const double per_call = (static_cast<double>(during) - before) / n;
  std::printf("floor: %d calls held in pending call credentials by a minimal interceptor "
              "on a warmed channel: %.0f heap bytes per call\n", n, per_call);
  return per_call;
}

}  // namespace
}  // namespace authrefresh

int main(int argc, char** argv) {
  using authrefresh::InterceptorOptions;
  bool waiting_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--massif_prefix=", 16) == 0) {
      authrefresh::g_massif_prefix = argv[i] + 16;
    }
    if (std::strcmp(argv[i], "--waiting_only") == 0) waiting_only = true;
  }
  int rc = 0;
  const int waiting = authrefresh::Flag(argc, argv, "--waiting", 10000);
  if (!waiting_only) {
    rc = authrefresh::Storm(authrefresh::Flag(argc, argv, "--calls", 1000),
                            authrefresh::Flag(argc, argv, "--rounds", 5));
    authrefresh::GrpcPendingCallBytes(waiting);
  }
  const double floor = authrefresh::ParkedCallBytes(waiting);
  double own = 0;
  rc |= authrefresh::Waiting(waiting, &own);
  std::printf("authrefresh's own bytes per waiting call, beyond the parked floor: %.0f\n",
              own - floor);
  return rc;
}
