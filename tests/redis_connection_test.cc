// The hiredis layer of the Redis backend (internal/redis_connection): what
// a connection failure, a silent server, and each kind of error reply
// become as statuses, against a real redis-server on 127.0.0.1
// (tests/testing/redis_server.h) and a socket that never answers. The
// backend's protocol over it is tested in redis_backend_test.

#include "interceptor/internal/redis_connection.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::RedisConnector;
using internal::RedisContext;
using internal::RedisErrorCode;
using internal::RedisReply;
using internal::RedisConnectionOptions;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;
using testing::StatusIs;

constexpr char kPassword[] = "pw-connection-4e2a";

RedisConnectionOptions At(int port, std::string password = "") {
  RedisConnectionOptions s;
  s.host = "127.0.0.1";
  s.port = port;
  s.password = std::move(password);
  s.connect_timeout = absl::Seconds(2);
  s.command_timeout = absl::Seconds(2);
  return s;
}

std::unique_ptr<testing::RedisServer> StartRedis(testing::RedisServerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::Start(std::move(options));
  EXPECT_THAT(redis.status(), IsOk());
  return redis.ok() ? *std::move(redis) : nullptr;
}

TEST(RedisErrorCode, OnlyTheCodeWordOfAnErrorReply) {
  EXPECT_EQ(RedisErrorCode("WRONGPASS invalid username-password pair"), "WRONGPASS");
  EXPECT_EQ(RedisErrorCode("NOAUTH Authentication required."), "NOAUTH");
  EXPECT_EQ(RedisErrorCode("lowercase text with a secret"), "ERR");
}

TEST(RedisConnector, NamesTheServerByAddressOrSocket) {
  EXPECT_EQ(RedisConnector(At(6380)).where(), "Redis at 127.0.0.1:6380");
  RedisConnectionOptions unix_server = At(6380);
  unix_server.unix_socket = "/run/redis/redis.sock";
  EXPECT_EQ(RedisConnector(unix_server).where(), "Redis at unix socket /run/redis/redis.sock");
}

TEST(RedisConnector, ConnectsAndExchangesACommand) {
  std::unique_ptr<testing::RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  const RedisConnector connector(At(redis->port()));
  absl::StatusOr<RedisContext> c = connector.Connect();
  ASSERT_THAT(c.status(), IsOk());
  absl::StatusOr<RedisReply> reply = connector.Exchange(c->get(), {"ECHO", "hello"}, "ECHO");
  ASSERT_THAT(reply.status(), IsOk());
  EXPECT_EQ((*reply)->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string((*reply)->str, (*reply)->len), "hello");
}

TEST(RedisConnector, NothingListeningIsUnavailable) {
  std::unique_ptr<testing::RedisServer> redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  const int port = redis->port();
  ASSERT_THAT(redis->Stop(), IsOk());
  EXPECT_THAT(RedisConnector(At(port)).Connect().status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr(absl::StrCat("cannot connect to Redis at 127.0.0.1:", port))));
}

TEST(RedisConnector, ASilentServerIsUnavailableAfterTheCommandTimeout) {
  // Listens but never accepts: the kernel completes the connection, and
  // nothing ever answers.
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  RedisConnectionOptions silent = At(ntohs(address.sin_port));
  silent.command_timeout = absl::Milliseconds(100);
  const RedisConnector connector(silent);
  absl::StatusOr<RedisContext> c = connector.Connect();
  ASSERT_THAT(c.status(), IsOk());
  EXPECT_THAT(
      connector.Exchange(c->get(), {"PING"}, "PING").status(),
      StatusIs(absl::StatusCode::kUnavailable,
               HasSubstr(absl::StrCat(connector.where(), ": no answer to PING within 100ms"))));
  close(listener);
}

TEST(RedisConnector, ErrorRepliesBecomeStatusesThatQuoteOnlyTheCode) {
  testing::RedisServerOptions options;
  options.password = kPassword;
  std::unique_ptr<testing::RedisServer> redis = StartRedis(options);
  ASSERT_NE(redis, nullptr);

  // No password: every command is refused, and the status says what to set.
  const RedisConnector anonymous(At(redis->port()));
  absl::StatusOr<RedisContext> c = anonymous.Connect();
  ASSERT_THAT(c.status(), IsOk());
  absl::StatusOr<RedisReply> reply = anonymous.Exchange(c->get(), {"GET", "k"}, "GET");
  ASSERT_THAT(reply.status(), IsOk());
  ASSERT_EQ((*reply)->type, REDIS_REPLY_ERROR);
  EXPECT_THAT(anonymous.ErrorReply(**reply, "GET"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("requires authentication (NOAUTH): set "
                                 "RedisBackendOptions.password")));

  // A wrong password: refused at connecting, the password not quoted.
  const absl::Status wrong = RedisConnector(At(redis->port(), "wrong-pw-81d0")).Connect().status();
  EXPECT_THAT(wrong,
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("refused AUTH (WRONGPASS)")));
  EXPECT_THAT(std::string(wrong.message()), Not(HasSubstr("wrong-pw-81d0")));

  // Any other error reply is INTERNAL with its code alone: Redis's text
  // quotes the command's arguments.
  const RedisConnector authenticated(At(redis->port(), kPassword));
  absl::StatusOr<RedisContext> a = authenticated.Connect();
  ASSERT_THAT(a.status(), IsOk());
  reply = authenticated.Exchange(a->get(), {"NOSUCHCOMMAND", "secret-argument"}, "a probe");
  ASSERT_THAT(reply.status(), IsOk());
  ASSERT_EQ((*reply)->type, REDIS_REPLY_ERROR);
  ASSERT_THAT(std::string((*reply)->str, (*reply)->len), HasSubstr("secret-argument"));
  const absl::Status other = authenticated.ErrorReply(**reply, "a probe");
  EXPECT_THAT(other, StatusIs(absl::StatusCode::kInternal,
                              AllOf(HasSubstr("answered a probe with an error (ERR)"),
                                    Not(HasSubstr("secret-argument")))));
  EXPECT_THAT(authenticated.Unexpected("a probe"),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("answered a probe with an unexpected reply")));
}

// A server that is there but not ready (loading its append-only file after
// a restart, say) is an outage, UNAVAILABLE, not an error of the request.
TEST(RedisConnector, AServerNotReadyYetIsUnavailable) {
  const RedisConnector connector(At(6380));
  for (const char* text : {"LOADING Redis is loading the dataset in memory",
                           "MASTERDOWN Link with MASTER is down", "TRYAGAIN Multiple keys",
                           "BUSY Redis is busy running a script"}) {
    SCOPED_TRACE(text);
    std::string error = text;
    redisReply reply{};
    reply.type = REDIS_REPLY_ERROR;
    reply.str = error.data();
    reply.len = error.size();
    EXPECT_THAT(connector.ErrorReply(reply, "HGETALL"),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr(absl::StrCat("cannot answer HGETALL yet (",
                                                RedisErrorCode(error), ")"))));
  }
}

}  // namespace
}  // namespace authrefresh
