// tests/e2e/shared_replicas.h
//
// The fixture of the tests with replica processes sharing one credential
// through a real Redis (shared_replicas_test, shared_backend_outage_test): a
// redis-server on 127.0.0.1, the mock token and resource services in this
// process, and tests/shared_replica processes, each calling from 32
// threads, whose counters the tests read.

#ifndef AUTHREFRESH_TESTS_E2E_SHARED_REPLICAS_H_
#define AUTHREFRESH_TESTS_E2E_SHARED_REPLICAS_H_

#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interceptor/redis_backend.h"
#include "interceptor/shared_token.h"
#include "tests/testing/mock_servers.h"
#include "tests/testing/node_process.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace testing {

// Polls `condition` until it holds or `timeout` passes.
inline bool Eventually(const std::function<bool()>& condition,
                absl::Duration timeout = absl::Seconds(60)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

class SharedRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::KeepCallbackQueueAlive();
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start(RedisOptions());
    ASSERT_THAT(redis.status(), IsOk());
    redis_ = *std::move(redis);
    servers_ = std::make_unique<MockServers>();
    login_ = servers_->authority().Login();
    prefix_ = absl::StrCat("authrefresh:test:", getpid(), ":");
  }

  // The test Redis's options; a fixture may ask for persistence.
  virtual RedisServerOptions RedisOptions() const { return {}; }

  // Starts replica `i`; `access_token` empty: it starts with no token.
  // `extra`: more shared_replica flags (--deadline_ms=..., --default_retry=1).
  void StartReplica(int i, bool with_access_token = true, int grant_timeout_ms = 1000,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        absl::StrCat("--redis_port=", redis_->port()), absl::StrCat("--prefix=", prefix_),
         absl::StrCat("--target=", servers_->address()), "--threads=32",
         absl::StrCat("--access_token=", with_access_token ? login_.access_token : ""),
         absl::StrCat("--refresh_token=", login_.refresh_token),
         absl::StrCat("--client_id=replica-", i), absl::StrCat("--seed=", i + 1),
         "--lease_ttl_ms=2000", absl::StrCat("--grant_timeout_ms=", grant_timeout_ms),
         "--deadline_ms=10000"};
    // A flag given twice: the last one counts.
    args.insert(args.end(), extra.begin(), extra.end());
    std::unique_ptr<NodeProcess> p = NodeProcess::StartExecutable("tests/shared_replica", args);
    ASSERT_NE(p, nullptr);
    replicas_.push_back(std::move(p));
  }

  google::protobuf::Struct Stats(size_t i) { return replicas_[i]->Command("stats"); }
  static long Field(const google::protobuf::Struct& s, const char* name) {
    return static_cast<long>(s.fields().at(name).number_value());
  }
  long Sum(const char* name, const std::vector<size_t>& which) {
    long total = 0;
    for (size_t i : which) total += Field(Stats(i), name);
    return total;
  }
  std::vector<size_t> All() {
    std::vector<size_t> all;
    for (size_t i = 0; i < replicas_.size(); ++i) {
      if (replicas_[i]->pid() > 0) all.push_back(i);
    }
    return all;
  }
  static std::vector<long> ThreadOk(const google::protobuf::Struct& s) {
    std::vector<long> out;
    for (const auto& v : s.fields().at("thread_ok").list_value().values()) {
      out.push_back(static_cast<long>(v.number_value()));
    }
    return out;
  }
  // Every replica in `which` makes `calls` more successful calls, and every
  // one of its threads two more than now: each call in flight now is over
  // (the second success is of a call that started after the first ended).
  // Calls take hundreds of milliseconds under load, so a call's replay could
  // otherwise still be in flight at the next revocation; replayed once, it
  // would fail by design.
  void AwaitProgress(long calls, std::vector<size_t> which = {}) {
    if (which.empty()) which = All();
    std::vector<long> base;
    std::vector<std::vector<long>> base_threads;
    for (size_t i : which) {
      const google::protobuf::Struct s = Stats(i);
      base.push_back(Field(s, "ok"));
      base_threads.push_back(ThreadOk(s));
    }
    ASSERT_TRUE(Eventually([&] {
      for (size_t k = 0; k < which.size(); ++k) {
        const google::protobuf::Struct s = Stats(which[k]);
        if (Field(s, "ok") < base[k] + calls) return false;
        const std::vector<long> threads = ThreadOk(s);
        if (threads.size() != base_threads[k].size()) return false;
        for (size_t t = 0; t < threads.size(); ++t) {
          if (threads[t] < base_threads[k][t] + 2) return false;
        }
      }
      return true;
    })) << "replicas stopped making progress";
  }
  void ExpectNoFailures(const std::vector<size_t>& which) {
    for (size_t i : which) {
      const google::protobuf::Struct s = Stats(i);
      EXPECT_EQ(Field(s, "failed"), 0)
          << "replica " << i << ": " << s.fields().at("last_failure").string_value();
    }
  }
  // The replica that took the lease since `before` (leases per replica).
  int NewHolder(const std::vector<long>& before) {
    int holder = -1;
    EXPECT_TRUE(Eventually([&] {
      for (size_t i = 0; i < replicas_.size(); ++i) {
        if (replicas_[i]->pid() > 0 && Field(Stats(i), "leases") > before[i]) {
          holder = static_cast<int>(i);
          return true;
        }
      }
      return false;
    }));
    return holder;
  }
  std::vector<long> Leases() {
    std::vector<long> out;
    for (size_t i = 0; i < replicas_.size(); ++i) {
      out.push_back(replicas_[i]->pid() > 0 ? Field(Stats(i), "leases") : 0);
    }
    return out;
  }
  absl::StatusOr<SharedRecord> Record() {
    RedisBackendOptions o;
    o.port = redis_->port();
    o.key_prefix = prefix_;
    absl::StatusOr<std::unique_ptr<SharedTokenBackend>> b = MakeRedisBackend(o);
    if (!b.ok()) return b.status();
    return (*b)->Read();
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<MockServers> servers_;
  Token login_;
  std::string prefix_;
  std::vector<std::unique_ptr<NodeProcess>> replicas_;
};

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_E2E_SHARED_REPLICAS_H_
