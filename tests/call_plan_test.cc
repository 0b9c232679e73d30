// How a call is handled (internal/call_plan), decided from what it sends:
// its own authorization, SkipTokenRefresh(), per-call credentials,
// compression and the call's shape.

#include "interceptor/internal/call_plan.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interceptor/internal/call_policy.h"

namespace authrefresh {
namespace {

using internal::CallFacts;
using internal::CallPlan;
using internal::PlanCall;
using ::testing::HasSubstr;
using Kind = CallPlan::Kind;
using Type = grpc::experimental::ClientRpcInfo::Type;
using Metadata = std::multimap<std::string, std::string>;

TEST(CallPlan, APlainUnaryCallCarriesTheTokenAndMayBeReplayed) {
  Metadata metadata = {{"x-request-id", "7"}};
  const CallPlan plan = PlanCall(&metadata, {});
  EXPECT_EQ(plan.kind, Kind::kToken);
  EXPECT_EQ(plan.not_replayable, nullptr);
  EXPECT_EQ(metadata.size(), 1u);
  Metadata none;
  EXPECT_EQ(PlanCall(&none, {.type = Type::SERVER_STREAMING}).kind, Kind::kToken);
  EXPECT_EQ(PlanCall(&none, {.type = Type::SERVER_STREAMING}).not_replayable, nullptr);
}

TEST(CallPlan, TheSkipMarkIsErasedAndNeverSent) {
  Metadata metadata = {{internal::kSkipRefreshKey, "1"}, {"x-request-id", "7"}};
  EXPECT_EQ(PlanCall(&metadata, {}).kind, Kind::kSkip);
  EXPECT_EQ(metadata, (Metadata{{"x-request-id", "7"}}));
}

TEST(CallPlan, TheApplicationsOwnAuthorizationIsLeftAlone) {
  Metadata metadata = {{"authorization", "Bearer the-apps-own"}};
  EXPECT_EQ(PlanCall(&metadata, {}).kind, Kind::kOwn);
  // Even with per-call credentials: authrefresh adds nothing to combine.
  EXPECT_EQ(PlanCall(&metadata, {.has_call_credentials = true}).kind, Kind::kOwn);
  EXPECT_EQ(metadata.size(), 1u);
}

TEST(CallPlan, PerCallCredentialsAreRefusedNamingTheWayOut) {
  Metadata metadata;
  const CallPlan plan = PlanCall(&metadata, {.has_call_credentials = true});
  EXPECT_EQ(plan.kind, Kind::kRefuse);
  EXPECT_EQ(plan.refusal.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(plan.refusal.error_message(), HasSubstr("CompositeChannelCredentials"));
  EXPECT_THAT(plan.refusal.error_message(), HasSubstr("excluded_methods"));
}

TEST(CallPlan, AMisconfiguredChannelRefusesEveryCallWithItsStatus) {
  Metadata metadata = {{"authorization", "Bearer the-apps-own"}};
  const CallPlan plan =
      PlanCall(&metadata, {.misconfigured = absl::InvalidArgumentError("authrefresh: bad")});
  EXPECT_EQ(plan.kind, Kind::kRefuse);
  EXPECT_EQ(plan.refusal.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(plan.refusal.error_message(), "authrefresh: bad");
}

TEST(CallPlan, CompressedCallsAreNotReplayedAndIdentityIsNotCompression) {
  Metadata gzip = {{GRPC_COMPRESSION_REQUEST_ALGORITHM_MD_KEY, "gzip"}};
  const CallPlan per_call = PlanCall(&gzip, {});
  EXPECT_EQ(per_call.kind, Kind::kToken);
  ASSERT_NE(per_call.not_replayable, nullptr);
  EXPECT_THAT(per_call.not_replayable, HasSubstr("grpc/grpc#37742"));
  Metadata none;
  EXPECT_NE(PlanCall(&none, {.channel_compression = GRPC_COMPRESS_GZIP}).not_replayable, nullptr);
  // A call's own "identity" turns the channel's default off.
  Metadata identity = {{GRPC_COMPRESSION_REQUEST_ALGORITHM_MD_KEY, "identity"}};
  EXPECT_EQ(PlanCall(&identity, {.channel_compression = GRPC_COMPRESS_GZIP}).not_replayable,
            nullptr);
  // The application's own authorization keeps the reason: its call must
  // not be replayed either.
  Metadata own = {{"authorization", "Bearer x"},
                  {GRPC_COMPRESSION_REQUEST_ALGORITHM_MD_KEY, "gzip"}};
  EXPECT_NE(PlanCall(&own, {}).not_replayable, nullptr);
}

TEST(CallPlan, ClientStreamingAndBidiCallsAreNotReplayed) {
  for (Type type : {Type::CLIENT_STREAMING, Type::BIDI_STREAMING}) {
    Metadata metadata;
    const CallPlan plan = PlanCall(&metadata, {.type = type});
    EXPECT_EQ(plan.kind, Kind::kToken);
    ASSERT_NE(plan.not_replayable, nullptr);
    EXPECT_THAT(plan.not_replayable, HasSubstr("client-streaming or bidi"));
  }
}

}  // namespace
}  // namespace authrefresh
