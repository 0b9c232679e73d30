#include "gtest/gtest.h"
#include "protos/token_service.grpc.pb.h"
TEST(Build, ProtoRoundTrip) {
  authrefresh::v1::TokenResponse r; r.set_access_token("x");
  authrefresh::v1::TokenResponse back; ASSERT_TRUE(back.ParseFromString(r.SerializeAsString()));
  EXPECT_EQ(back.access_token(), "x");
}
