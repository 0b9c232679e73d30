// Where a call is replayed (internal/replay_policy): the service config that
// makes gRPC core replay UNAUTHENTICATED, merged into the application's, and
// what the application's own retry policies mean for a second attempt.

#include "interceptor/internal/replay_policy.h"

#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "grpc/compression.h"
#include "grpc/impl/codegen/grpc_types.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using internal::MergeReplayPolicy;
using internal::MethodPolicy;
using internal::RetryScopesOf;
using internal::WithReplayPolicy;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::StatusIs;

Struct Parse(const std::string& json) {
  Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok()) << json;
  return s;
}

const Struct& MethodConfig(const Struct& config, int i) {
  return config.fields().at("methodConfig").list_value().values(i).struct_value();
}

std::string Codes(const Struct& method_config) {
  std::string out;
  for (const Value& v : method_config.fields()
                            .at("retryPolicy")
                            .struct_value()
                            .fields()
                            .at("retryableStatusCodes")
                            .list_value()
                            .values()) {
    out += (out.empty() ? "" : ",") + v.string_value();
  }
  return out;
}

TEST(MergeReplayPolicy, WithoutAnApplicationConfigEveryMethodReplaysOnce) {
  absl::StatusOr<std::string> merged = MergeReplayPolicy("");
  ASSERT_THAT(merged.status(), IsOk());
  const Struct config = Parse(*merged);
  ASSERT_EQ(config.fields().at("methodConfig").list_value().values_size(), 1);
  const Struct& mc = MethodConfig(config, 0);
  const auto& policy = mc.fields().at("retryPolicy").struct_value().fields();
  EXPECT_EQ(policy.at("maxAttempts").number_value(), 2);
  EXPECT_EQ(Codes(mc), "UNAUTHENTICATED");
  // The default method config: a name with neither service nor method.
  EXPECT_EQ(mc.fields().at("name").list_value().values(0).struct_value().fields_size(), 0);
}

TEST(MergeReplayPolicy, TheApplicationsPoliciesKeepTheirSettingsAndGainTheCode) {
  absl::StatusOr<std::string> merged = MergeReplayPolicy(R"({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
      {"name": [{"service": "pkg.Api"}], "timeout": "5s",
       "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s",
                       "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}},
      {"name": [{"service": "pkg.Other"}], "retryPolicy": {"maxAttempts": 3,
       "initialBackoff": "0.1s", "maxBackoff": "1s", "backoffMultiplier": 2,
       "retryableStatusCodes": ["unauthenticated"]}},
      {"name": [{"service": "pkg.Plain"}], "waitForReady": true}]})");
  ASSERT_THAT(merged.status(), IsOk());
  const Struct config = Parse(*merged);
  EXPECT_TRUE(config.fields().contains("loadBalancingConfig"));
  EXPECT_EQ(Codes(MethodConfig(config, 0)), "UNAVAILABLE,UNAUTHENTICATED");
  EXPECT_EQ(MethodConfig(config, 0).fields().at("timeout").string_value(), "5s");
  EXPECT_EQ(MethodConfig(config, 0).fields().at("retryPolicy").struct_value().fields().at(
                "maxAttempts").number_value(),
            4);
  EXPECT_EQ(Codes(MethodConfig(config, 1)), "unauthenticated");  // present already
  EXPECT_EQ(Codes(MethodConfig(config, 2)), "UNAUTHENTICATED");  // given authrefresh's
  EXPECT_TRUE(MethodConfig(config, 2).fields().at("waitForReady").bool_value());
  // And a default for everything else.
  EXPECT_EQ(config.fields().at("methodConfig").list_value().values_size(), 4);
  // Merging is idempotent.
  absl::StatusOr<std::string> again = MergeReplayPolicy(*merged);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(Parse(*again), config));
}

TEST(MergeReplayPolicy, ExcludedMethodsGetAConfigWithoutReplayUnlessTheAppConfiguresThem) {
  const std::vector<MethodPolicy::ConfigName> excluded = {{"pkg.Health", "Check"},
                                                          {"pkg.Admin", ""}};
  absl::StatusOr<std::string> merged = MergeReplayPolicy(
      R"({"methodConfig": [{"name": [{"service": "pkg.Admin"}], "timeout": "1s"}]})", excluded);
  ASSERT_THAT(merged.status(), IsOk());
  const Struct config = Parse(*merged);
  // The app's own config for pkg.Admin is left as it is: no retryPolicy.
  EXPECT_FALSE(MethodConfig(config, 0).fields().contains("retryPolicy"));
  // pkg.Health/Check gets one of its own, without a retryPolicy.
  const Struct& own = MethodConfig(config, 1);
  EXPECT_FALSE(own.fields().contains("retryPolicy"));
  const auto& name = own.fields().at("name").list_value().values(0).struct_value().fields();
  EXPECT_EQ(name.at("service").string_value(), "pkg.Health");
  EXPECT_EQ(name.at("method").string_value(), "Check");
}

TEST(MergeReplayPolicy, ConfigsThatCannotCarryTheReplayAreRefusedNamingTheProblem) {
  EXPECT_THAT(MergeReplayPolicy("{not json"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a JSON object")));
  EXPECT_THAT(MergeReplayPolicy(R"({"methodConfig": 3})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a list")));
  EXPECT_THAT(MergeReplayPolicy(R"({"methodConfig": [7]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("methodConfig[0]")));
  EXPECT_THAT(
      MergeReplayPolicy(R"({"methodConfig": [{"name": [{}], "hedgingPolicy": {}}]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hedgingPolicy")));
  EXPECT_THAT(MergeReplayPolicy(R"({"methodConfig": [{"name": [{}], "retryPolicy": 1}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("retryPolicy")));
}

// gRPC picks the most specific method config: for a method whose policy
// retries only UNAUTHENTICATED, a second attempt proves a rejection even if
// the default retries other codes.
TEST(RetryScopesOf, MethodsWhosePoliciesRetryOtherCodes) {
  const std::string config = *MergeReplayPolicy(R"({"methodConfig": [
      {"name": [{}], "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.1s",
       "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}},
      {"name": [{"service": "pkg.Strict"}], "retryPolicy": {"maxAttempts": 2,
       "initialBackoff": "0.1s", "maxBackoff": "1s", "backoffMultiplier": 2,
       "retryableStatusCodes": ["UNAUTHENTICATED"]}},
      {"name": [{"service": "pkg.Strict", "method": "Loose"}], "retryPolicy": {
       "maxAttempts": 2, "initialBackoff": "0.1s", "maxBackoff": "1s",
       "backoffMultiplier": 2, "retryableStatusCodes": ["ABORTED"]}}]})");
  internal::RetryScopes scopes = RetryScopesOf(config);
  EXPECT_TRUE(scopes.Contains("/pkg.Any/Thing"));      // the default
  EXPECT_FALSE(scopes.Contains("/pkg.Strict/Get"));    // its service's
  EXPECT_TRUE(scopes.Contains("/pkg.Strict/Loose"));   // its own
  EXPECT_FALSE(RetryScopesOf(*MergeReplayPolicy("")).Contains("/pkg.Any/Thing"));
  EXPECT_FALSE(RetryScopesOf("not json").Contains("/pkg.Any/Thing"));
}

std::string Arg(const grpc::ChannelArguments& args, const char* key, int* number = nullptr) {
  const grpc_channel_args c = args.c_channel_args();
  for (size_t i = 0; i < c.num_args; ++i) {
    if (std::string(c.args[i].key) != key) continue;
    if (c.args[i].type == GRPC_ARG_STRING) return c.args[i].value.string;
    if (number != nullptr) *number = c.args[i].value.integer;
    return "int";
  }
  return "";
}

TEST(WithReplayPolicy, SetsTheServiceConfigAndTheRetryBufferOnceAndKeepsTheRest) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM, GRPC_COMPRESS_GZIP);
  args.SetString("my.own", "kept");
  absl::StatusOr<internal::ReplayChannel> replay = WithReplayPolicy(args, 1024, {});
  ASSERT_THAT(replay.status(), IsOk());
  EXPECT_EQ(replay->default_compression, GRPC_COMPRESS_GZIP);
  EXPECT_EQ(Arg(replay->args, "my.own"), "kept");
  EXPECT_THAT(Arg(replay->args, GRPC_ARG_SERVICE_CONFIG), HasSubstr("UNAUTHENTICATED"));
  int buffer = 0;
  EXPECT_EQ(Arg(replay->args, GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE, &buffer), "int");
  EXPECT_EQ(buffer, 1024);
  // The application's own buffer size wins.
  grpc::ChannelArguments own;
  own.SetInt(GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE, 4096);
  replay = WithReplayPolicy(own, 1024, {});
  ASSERT_THAT(replay.status(), IsOk());
  EXPECT_EQ(Arg(replay->args, GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE, &buffer), "int");
  EXPECT_EQ(buffer, 4096);
}

TEST(WithReplayPolicy, RetriesTurnedOffCannotReplay) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  EXPECT_THAT(WithReplayPolicy(args, 1024, {}).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("grpc.enable_retries")));
}

}  // namespace
}  // namespace authrefresh
