// The Redis SharedTokenBackend against a real redis-server on 127.0.0.1
// (tests/testing/redis_server.h): the record's compare-and-set, the lease,
// WaitForChange, AUTH, the Unix socket, Redis going away and coming back,
// encryption, malformed records, and that no status carries a secret.

#include "interceptor/redis_backend.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::authrefresh::testing::IsOk;
using ::authrefresh::testing::RedisServer;
using ::authrefresh::testing::RedisServerOptions;
using ::authrefresh::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

constexpr char kPrefix[] = "authrefresh:test:";
constexpr char kKey[] = "0123456789abcdef0123456789abcdef";       // 32 bytes
constexpr char kOtherKey[] = "fedcba9876543210fedcba9876543210";  // 32 bytes
constexpr char kPassword[] = "pw-default-7c1e";
constexpr char kUserPassword[] = "pw-orders-93ab";

// Every secret a test uses: none may appear in any status message.
const std::vector<std::string>& Secrets() {
  static const auto* secrets = new std::vector<std::string>{
      "access-one", "refresh-one", "access-two", "refresh-two", kKey, kOtherKey,
      kPassword,    kUserPassword, "wrong-pw-5d"};
  return *secrets;
}

void ExpectNoSecret(const absl::Status& status) {
  for (const std::string& secret : Secrets()) {
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr(secret))) << status;
  }
}

std::unique_ptr<RedisServer> StartRedis(RedisServerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start(std::move(options));
  EXPECT_THAT(server, IsOk());
  return server.ok() ? *std::move(server) : nullptr;
}

RedisBackendOptions OptionsFor(const RedisServer& server) {
  RedisBackendOptions options;
  options.port = server.port();
  options.key_prefix = kPrefix;
  return options;
}

std::unique_ptr<SharedTokenBackend> Backend(RedisBackendOptions options) {
  absl::StatusOr<std::unique_ptr<SharedTokenBackend>> backend =
      MakeRedisBackend(std::move(options));
  EXPECT_THAT(backend, IsOk());
  return backend.ok() ? *std::move(backend) : nullptr;
}

SharedRecord Record(uint64_t generation, const std::string& name) {
  SharedRecord record;
  record.generation = generation;
  record.token.access_token = absl::StrCat("access-", name);
  record.token.refresh_token = absl::StrCat("refresh-", name);
  record.token.expires_at = absl::FromUnixMillis(1893456000123);  // whole milliseconds
  record.token.scope = "orders.read orders.write";
  return record;
}

void ExpectSameRecord(const SharedRecord& got, const SharedRecord& want) {
  EXPECT_EQ(got.generation, want.generation);
  EXPECT_EQ(got.token.access_token, want.token.access_token);
  EXPECT_EQ(got.token.refresh_token, want.token.refresh_token);
  EXPECT_EQ(got.token.expires_at, want.token.expires_at);
  EXPECT_EQ(got.token.scope, want.token.scope);
}

TEST(RedisBackend, RejectsBadOptionsWithoutConnecting) {
  RedisBackendOptions good;
  good.port = 1;  // nothing listens there: construction does not connect
  good.key_prefix = kPrefix;
  EXPECT_THAT(MakeRedisBackend(good), IsOk());

  auto with = [&good](auto change) {
    RedisBackendOptions o = good;
    change(o);
    return MakeRedisBackend(o).status();
  };
  const absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(with([](auto& o) { o.key_prefix.clear(); }), StatusIs(kInvalid, HasSubstr("key_prefix")));
  EXPECT_THAT(with([](auto& o) { o.port = 0; }), StatusIs(kInvalid, HasSubstr("port")));
  EXPECT_THAT(with([](auto& o) { o.port = 65536; }), StatusIs(kInvalid, HasSubstr("port")));
  EXPECT_THAT(with([](auto& o) { o.host.clear(); }), StatusIs(kInvalid, HasSubstr("host")));
  EXPECT_THAT(with([](auto& o) { o.user = "orders"; }), StatusIs(kInvalid, HasSubstr("password")));
  EXPECT_THAT(with([](auto& o) { o.command_timeout = absl::ZeroDuration(); }),
              StatusIs(kInvalid, HasSubstr("command_timeout")));
  EXPECT_THAT(with([](auto& o) { o.connect_timeout = absl::InfiniteDuration(); }),
              StatusIs(kInvalid, HasSubstr("connect_timeout")));
  const absl::Status short_key = with([](auto& o) { o.encryption_key = "access-one-31-bytes-long-secret"; });
  EXPECT_THAT(short_key, StatusIs(kInvalid, HasSubstr("encryption_key")));
  ExpectNoSecret(short_key);
  // With a Unix socket, host and port are not used.
  EXPECT_THAT(with([](auto& o) {
                o.unix_socket = "/nonexistent/redis.sock";
                o.port = 0;
              }),
              IsOk());
}

TEST(RedisBackend, ReadOfNoRecordIsGenerationZero) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  auto backend = Backend(OptionsFor(*server));
  absl::StatusOr<SharedRecord> record = backend->Read();
  ASSERT_THAT(record, IsOk());
  EXPECT_EQ(record->generation, 0u);
  EXPECT_EQ(record->token.access_token, "");
  EXPECT_EQ(record->token.refresh_token, "");
}

TEST(RedisBackend, CompareAndSwapWritesOnceAndRefusesAStaleGeneration) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  auto backend = Backend(OptionsFor(*server));
  const SharedRecord first = Record(1, "one");
  EXPECT_THAT(backend->CompareAndSwap(0, first), IsOkAndHolds(true));
  // Someone else also saw generation 0: refused, the record unchanged.
  EXPECT_THAT(backend->CompareAndSwap(0, Record(1, "two")), IsOkAndHolds(false));
  absl::StatusOr<SharedRecord> read = backend->Read();
  ASSERT_THAT(read, IsOk());
  ExpectSameRecord(*read, first);

  const SharedRecord second = Record(2, "two");
  EXPECT_THAT(backend->CompareAndSwap(1, second), IsOkAndHolds(true));
  EXPECT_THAT(backend->CompareAndSwap(1, Record(2, "one")), IsOkAndHolds(false));
  read = backend->Read();
  ASSERT_THAT(read, IsOk());
  ExpectSameRecord(*read, second);

  // The record must be expected + 1.
  EXPECT_THAT(backend->CompareAndSwap(2, Record(5, "one")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("generation")));
}

TEST(RedisBackend, RoundTripsEveryFieldIncludingANeverExpiringToken) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  auto backend = Backend(OptionsFor(*server));
  const SharedRecord first = Record(1, "one");
  ASSERT_THAT(backend->CompareAndSwap(0, first), IsOkAndHolds(true));
  absl::StatusOr<std::vector<std::string>> raw =
      server->Command({"HGET", absl::StrCat(kPrefix, "record"), "expires_at"});
  ASSERT_THAT(raw, IsOk());
  EXPECT_THAT(*raw, ElementsAre("1893456000123"));
  absl::StatusOr<SharedRecord> read = backend->Read();
  ASSERT_THAT(read, IsOk());
  ExpectSameRecord(*read, first);

  SharedRecord never;
  never.generation = 2;
  never.token.access_token = "access-two";
  never.token.expires_at = absl::InfiniteFuture();
  // No refresh token, no scope: no field of generation 1 survives.
  ASSERT_THAT(backend->CompareAndSwap(1, never), IsOkAndHolds(true));
  read = backend->Read();
  ASSERT_THAT(read, IsOk());
  ExpectSameRecord(*read, never);
  EXPECT_EQ(read->token.expires_at, absl::InfiniteFuture());
}

TEST(RedisBackend, LeaseIsExclusiveRenewableAndReleasedOnlyByItsHolder) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  auto a = Backend(OptionsFor(*server));
  auto b = Backend(OptionsFor(*server));
  EXPECT_THAT(a->TryAcquireLease("replica-a", absl::Seconds(30)), IsOkAndHolds(true));
  EXPECT_THAT(b->TryAcquireLease("replica-b", absl::Seconds(30)), IsOkAndHolds(false));
  // Renewal by the holder: its expiry moves.
  EXPECT_THAT(a->TryAcquireLease("replica-a", absl::Seconds(60)), IsOkAndHolds(true));
  absl::StatusOr<std::vector<std::string>> ttl =
      server->Command({"PTTL", absl::StrCat(kPrefix, "lease")});
  ASSERT_THAT(ttl, IsOk());
  ASSERT_EQ(ttl->size(), 1u);
  EXPECT_GT(std::stoll(ttl->front()), 30000);
  // B does not hold it: its release does nothing.
  EXPECT_THAT(b->ReleaseLease("replica-b"), IsOk());
  EXPECT_THAT(b->TryAcquireLease("replica-b", absl::Seconds(30)), IsOkAndHolds(false));
  EXPECT_THAT(server->Command({"GET", absl::StrCat(kPrefix, "lease")}),
              IsOkAndHolds(ElementsAre("replica-a")));
  EXPECT_THAT(a->ReleaseLease("replica-a"), IsOk());
  EXPECT_THAT(b->TryAcquireLease("replica-b", absl::Seconds(30)), IsOkAndHolds(true));

  EXPECT_THAT(a->TryAcquireLease("", absl::Seconds(1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(a->TryAcquireLease("replica-a", absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RedisBackend, LeaseExpiresAfterItsTtlAndWaitForChangeSeesIt) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  auto a = Backend(OptionsFor(*server));
  auto b = Backend(OptionsFor(*server));
  const absl::Time start = absl::Now();
  ASSERT_THAT(a->TryAcquireLease("replica-a", absl::Milliseconds(200)),
              IsOkAndHolds(true));
  ASSERT_THAT(b->TryAcquireLease("replica-b", absl::Seconds(30)), IsOkAndHolds(false));
  // Nothing announces an expiry: B wakes when the lease's PTTL runs out.
  EXPECT_THAT(b->WaitForChange(0, absl::Seconds(20)), IsOk());
  const absl::Duration waited = absl::Now() - start;
  EXPECT_GE(waited, absl::Milliseconds(150));
  EXPECT_LT(waited, absl::Seconds(10));
  EXPECT_THAT(b->TryAcquireLease("replica-b", absl::Seconds(30)), IsOkAndHolds(true));
}

// How many EVALs the server has run: a waiter's look at the record is one.
long EvalCalls(RedisServer& server) {
  absl::StatusOr<std::vector<std::string>> info = server.Command({"INFO", "commandstats"});
  if (!info.ok() || info->empty()) return -1;
  const std::string& text = (*info)[0];
  const size_t at = text.find("cmdstat_eval:calls=");
  if (at == std::string::npos) return 0;
  return std::strtol(text.c_str() + at + std::string("cmdstat_eval:calls=").size(), nullptr, 10);
}

// Runs `waiter->WaitForChange(0, 30 s)` on a thread and returns once the
// waiter has looked at the record (its EVAL ran): from then on, only an
// announcement (or the 30 s timeout) can end its wait.
class BlockedWaiter {
 public:
  BlockedWaiter(RedisServer& server, SharedTokenBackend* waiter) {
    const long before = EvalCalls(server);
    thread_ = std::thread([this, waiter] {
      status_ = waiter->WaitForChange(0, absl::Seconds(30));
      returned_ = absl::Now();
    });
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (EvalCalls(server) <= before && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));  // polls the server's counter
    }
    looked_ = EvalCalls(server) > before;
  }
  bool looked() const { return looked_; }
  // Joins; the time from `since` to the wait's return.
  absl::Duration Join(absl::Time since) {
    thread_.join();
    EXPECT_THAT(status_, IsOk());
    return returned_ - since;
  }

 private:
  std::thread thread_;
  bool looked_ = false;
  absl::Status status_;
  absl::Time returned_;
};

TEST(RedisBackend, WaitForChangeWakesOnAnotherClientsWrite) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  auto holder = Backend(OptionsFor(*server));
  auto waiter = Backend(OptionsFor(*server));
  auto other = Backend(OptionsFor(*server));
  ASSERT_THAT(holder->TryAcquireLease("replica-a", absl::Seconds(60)), IsOkAndHolds(true));
  BlockedWaiter blocked(*server, waiter.get());
  ASSERT_TRUE(blocked.looked());
  const absl::Time written = absl::Now();
  EXPECT_THAT(other->CompareAndSwap(0, Record(1, "one")), IsOkAndHolds(true));
  EXPECT_LT(blocked.Join(written), absl::Seconds(5));  // the announcement, not the 30 s
  absl::StatusOr<SharedRecord> read = waiter->Read();
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->generation, 1u);
}

TEST(RedisBackend, WaitForChangeWakesWhenTheLeaseIsReleased) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  auto holder = Backend(OptionsFor(*server));
  auto waiter = Backend(OptionsFor(*server));
  ASSERT_THAT(holder->TryAcquireLease("replica-a", absl::Seconds(60)), IsOkAndHolds(true));
  BlockedWaiter blocked(*server, waiter.get());
  ASSERT_TRUE(blocked.looked());
  const absl::Time released = absl::Now();
  EXPECT_THAT(holder->ReleaseLease("replica-a"), IsOk());
  EXPECT_LT(blocked.Join(released), absl::Seconds(5));
}

TEST(RedisBackend, WaitForChangeReturnsAtOnceOrOnTimeout) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  auto backend = Backend(OptionsFor(*server));
  ASSERT_THAT(backend->CompareAndSwap(0, Record(1, "one")), IsOkAndHolds(true));
  // Already changed, or nobody holds the lease: no wait.
  absl::Time start = absl::Now();
  EXPECT_THAT(backend->WaitForChange(0, absl::Seconds(30)), IsOk());
  EXPECT_THAT(backend->WaitForChange(1, absl::Seconds(30)), IsOk());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  // Held, and nothing happens: the timeout.
  ASSERT_THAT(backend->TryAcquireLease("replica-a", absl::Seconds(60)), IsOkAndHolds(true));
  start = absl::Now();
  EXPECT_THAT(backend->WaitForChange(1, absl::Milliseconds(300)), IsOk());
  const absl::Duration waited = absl::Now() - start;
  EXPECT_GE(waited, absl::Milliseconds(300));
  EXPECT_LT(waited, absl::Seconds(5));
}

TEST(RedisBackend, AuthenticatesWithAPassword) {
  RedisServerOptions server_options;
  server_options.password = kPassword;
  auto server = StartRedis(server_options);
  ASSERT_NE(server, nullptr);
  RedisBackendOptions options = OptionsFor(*server);
  options.password = kPassword;
  auto backend = Backend(options);
  EXPECT_THAT(backend->CompareAndSwap(0, Record(1, "one")), IsOkAndHolds(true));

  options.password.clear();
  const absl::Status no_password = Backend(options)->Read().status();
  EXPECT_THAT(no_password, StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("NOAUTH")));
  ExpectNoSecret(no_password);

  options.password = "wrong-pw-5d";
  const absl::Status wrong = Backend(options)->TryAcquireLease("a", absl::Seconds(1)).status();
  EXPECT_THAT(wrong, StatusIs(absl::StatusCode::kPermissionDenied,
                              HasSubstr(absl::StrCat("127.0.0.1:", server->port()))));
  ExpectNoSecret(wrong);
}

TEST(RedisBackend, AuthenticatesAsAnAclUser) {
  RedisServerOptions server_options;
  server_options.password = kPassword;
  server_options.acl_user = "orders";
  server_options.acl_password = kUserPassword;
  auto server = StartRedis(server_options);
  ASSERT_NE(server, nullptr);
  RedisBackendOptions options = OptionsFor(*server);
  options.user = "orders";
  options.password = kUserPassword;
  auto backend = Backend(options);
  EXPECT_THAT(backend->CompareAndSwap(0, Record(1, "one")), IsOkAndHolds(true));
  EXPECT_THAT(backend->TryAcquireLease("replica-a", absl::Seconds(5)), IsOkAndHolds(true));
  EXPECT_THAT(backend->WaitForChange(0, absl::Seconds(5)), IsOk());

  options.password = "wrong-pw-5d";
  const absl::Status wrong = Backend(options)->Read().status();
  EXPECT_THAT(wrong, StatusIs(absl::StatusCode::kPermissionDenied,
                              AllOf(HasSubstr("orders"), HasSubstr("WRONGPASS"))));
  ExpectNoSecret(wrong);
}

TEST(RedisBackend, ConnectsOverAUnixSocket) {
  RedisServerOptions server_options;
  server_options.unix_socket = true;
  auto server = StartRedis(server_options);
  ASSERT_NE(server, nullptr);
  RedisBackendOptions options;
  options.unix_socket = server->unix_socket();
  options.key_prefix = kPrefix;
  auto backend = Backend(options);
  EXPECT_THAT(backend->CompareAndSwap(0, Record(1, "one")), IsOkAndHolds(true));
  absl::StatusOr<SharedRecord> read = backend->Read();
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->generation, 1u);

  options.unix_socket = server->unix_socket() + ".missing";
  EXPECT_THAT(Backend(options)->Read(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(".missing")));
}

TEST(RedisBackend, RedisGoneIsUnavailableAndTheSameBackendRecovers) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  auto backend = Backend(OptionsFor(*server));
  ASSERT_THAT(backend->TryAcquireLease("replica-a", absl::Seconds(60)), IsOkAndHolds(true));
  ASSERT_THAT(backend->WaitForChange(0, absl::Milliseconds(1)), IsOk());  // subscribed

  ASSERT_THAT(server->Stop(), IsOk());
  const std::string where = absl::StrCat("127.0.0.1:", server->port());
  EXPECT_THAT(backend->Read(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr(where)));
  EXPECT_THAT(backend->TryAcquireLease("replica-a", absl::Seconds(1)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(where)));
  EXPECT_THAT(backend->CompareAndSwap(0, Record(1, "one")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(where)));
  EXPECT_THAT(backend->WaitForChange(0, absl::Seconds(1)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(where)));

  ASSERT_THAT(server->Restart(), IsOk());
  // Nothing was persisted: an empty Redis, reached by the same object.
  absl::StatusOr<SharedRecord> read = backend->Read();
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->generation, 0u);
  EXPECT_THAT(backend->CompareAndSwap(0, Record(1, "one")), IsOkAndHolds(true));
  ASSERT_THAT(backend->TryAcquireLease("replica-a", absl::Seconds(60)), IsOkAndHolds(true));
  EXPECT_THAT(backend->WaitForChange(1, absl::Milliseconds(50)), IsOk());

  // Restarted between two calls, unseen: the kept connections are dead, and
  // the next call still succeeds (on a new connection).
  ASSERT_THAT(server->Stop(), IsOk());
  ASSERT_THAT(server->Restart(), IsOk());
  read = backend->Read();
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->generation, 0u);
  ASSERT_THAT(backend->TryAcquireLease("replica-a", absl::Seconds(60)), IsOkAndHolds(true));
  EXPECT_THAT(backend->WaitForChange(0, absl::Milliseconds(50)), IsOk());
}

TEST(RedisBackend, EncryptsTokensAndRefusesAnotherKey) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  RedisBackendOptions options = OptionsFor(*server);
  options.encryption_key = kKey;
  auto backend = Backend(options);
  const SharedRecord first = Record(1, "one");
  ASSERT_THAT(backend->CompareAndSwap(0, first), IsOkAndHolds(true));

  const std::string record_key = absl::StrCat(kPrefix, "record");
  absl::StatusOr<std::vector<std::string>> raw = server->Command({"HGETALL", record_key});
  ASSERT_THAT(raw, IsOk());
  for (const std::string& value : *raw) {
    EXPECT_THAT(value, Not(HasSubstr("access-one")));
    EXPECT_THAT(value, Not(HasSubstr("refresh-one")));
  }
  // Expiry, scope and generation stay in clear.
  EXPECT_THAT(*raw, ::testing::IsSupersetOf({"generation", "1", "1893456000123",
                                              "orders.read orders.write", "encryption",
                                              "aes-256-gcm"}));
  absl::StatusOr<SharedRecord> read = backend->Read();
  ASSERT_THAT(read, IsOk());
  ExpectSameRecord(*read, first);

  options.encryption_key = kOtherKey;
  const absl::Status other_key = Backend(options)->Read().status();
  EXPECT_THAT(other_key, StatusIs(absl::StatusCode::kFailedPrecondition,
                                  HasSubstr("cannot decrypt the shared token record")));
  ExpectNoSecret(other_key);

  options.encryption_key.clear();
  const absl::Status no_key = Backend(options)->Read().status();
  EXPECT_THAT(no_key, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("encrypted")));
  ExpectNoSecret(no_key);

  // A ciphertext is bound to its field and generation: moved, it does not decrypt.
  raw = server->Command({"HGET", record_key, "access_token"});
  ASSERT_THAT(raw, IsOk());
  ASSERT_EQ(raw->size(), 1u);
  ASSERT_THAT(server->Command({"HSET", record_key, "refresh_token", raw->front()}), IsOk());
  EXPECT_THAT(backend->Read(), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(backend->CompareAndSwap(1, Record(2, "two")), IsOkAndHolds(true));
  ASSERT_THAT(server->Command({"HSET", record_key, "generation", "3"}), IsOk());
  const absl::Status moved = backend->Read().status();
  EXPECT_THAT(moved, StatusIs(absl::StatusCode::kFailedPrecondition));
  ExpectNoSecret(moved);
}

TEST(RedisBackend, MalformedRecordIsInternalNamingTheFieldNotItsValue) {
  auto server = StartRedis();
  ASSERT_NE(server, nullptr);
  auto backend = Backend(OptionsFor(*server));
  ASSERT_THAT(backend->CompareAndSwap(0, Record(1, "one")), IsOkAndHolds(true));
  const std::string record_key = absl::StrCat(kPrefix, "record");

  ASSERT_THAT(server->Command({"HSET", record_key, "expires_at", "soon-9f2"}), IsOk());
  EXPECT_THAT(backend->Read(),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("expires_at"), Not(HasSubstr("soon-9f2")))));

  ASSERT_THAT(server->Command({"HSET", record_key, "generation", "7x-41b"}), IsOk());
  const absl::Status bad_generation = backend->Read().status();
  EXPECT_THAT(bad_generation, StatusIs(absl::StatusCode::kInternal,
                                       AllOf(HasSubstr("generation"), Not(HasSubstr("7x-41b")))));
  ExpectNoSecret(bad_generation);

  ASSERT_THAT(server->Command({"HDEL", record_key, "generation"}), IsOk());
  EXPECT_THAT(backend->Read(), StatusIs(absl::StatusCode::kInternal, HasSubstr("generation")));

  // Not a hash at all: Redis's WRONGTYPE, and again no value.
  ASSERT_THAT(server->Command({"SET", record_key, "access-one"}), IsOk());
  const absl::Status wrong_type = backend->Read().status();
  EXPECT_THAT(wrong_type, StatusIs(absl::StatusCode::kInternal, HasSubstr("WRONGTYPE")));
  ExpectNoSecret(wrong_type);
}

}  // namespace
}  // namespace authrefresh
