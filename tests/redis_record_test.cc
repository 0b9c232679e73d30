// The shared record as the Redis backend stores it (internal/redis_record):
// the fields, the encryption of the tokens, and the refusals. No Redis
// needed; redis_backend_test runs the backend against a real server.

#include "interceptor/internal/redis_record.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::RedisRecordCodec;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;
using testing::StatusIs;

using Fields = absl::flat_hash_map<absl::string_view, absl::string_view>;

// Encodes `record` and decodes the result as Redis would hand it back.
absl::StatusOr<SharedRecord> RoundTrip(const RedisRecordCodec& out, const RedisRecordCodec& in,
                                       const SharedRecord& record,
                                       std::map<std::string, std::string>* stored = nullptr) {
  auto encoded = out.Encode(record);
  if (!encoded.ok()) return encoded.status();
  std::map<std::string, std::string> hash(encoded->begin(), encoded->end());
  if (stored != nullptr) *stored = hash;
  Fields fields;
  for (const auto& [k, v] : hash) fields[k] = v;
  return in.Decode(fields);
}

const SharedRecord kRecord{7, Token{"at-7", "rt-7", absl::FromUnixMillis(1'900'000'000'123), "read",
                                    absl::FromUnixMillis(1'899'999'000'456)}};

TEST(RedisRecord, RoundTripsEveryFieldToTheMillisecond) {
  RedisRecordCodec clear("app:", "");
  std::map<std::string, std::string> stored;
  absl::StatusOr<SharedRecord> back = RoundTrip(clear, clear, kRecord, &stored);
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_EQ(back->generation, 7u);
  EXPECT_EQ(back->token.access_token, "at-7");
  EXPECT_EQ(back->token.refresh_token, "rt-7");
  EXPECT_EQ(back->token.expires_at, kRecord.token.expires_at);
  EXPECT_EQ(back->token.issued_at, kRecord.token.issued_at);
  EXPECT_EQ(back->token.scope, "read");
  EXPECT_EQ(stored.at("expires_at"), "1900000000123");
  EXPECT_EQ(stored.at("issued_at"), "1899999000456");
  EXPECT_EQ(stored.count("encryption"), 0u);
}

TEST(RedisRecord, ADpopBoundTokenKeepsItsKeyThumbprint) {
  RedisRecordCodec clear("app:", "");
  SharedRecord bound = kRecord;
  bound.token.dpop_jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
  std::map<std::string, std::string> stored;
  absl::StatusOr<SharedRecord> back = RoundTrip(clear, clear, bound, &stored);
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_EQ(back->token.dpop_jkt, bound.token.dpop_jkt);
  EXPECT_EQ(stored.at("dpop_jkt"), bound.token.dpop_jkt);
  std::map<std::string, std::string> bearer;
  ASSERT_THAT(RoundTrip(clear, clear, kRecord, &bearer).status(), IsOk());
  EXPECT_EQ(bearer.count("dpop_jkt"), 0u);
}

TEST(RedisRecord, NeverAndUnknownAreZeroAndARecordOfTheLastVersionHasNoIssueTime) {
  RedisRecordCodec clear("app:", "");
  absl::StatusOr<SharedRecord> back =
      RoundTrip(clear, clear, SharedRecord{1, Token{"at", "", absl::InfiniteFuture(), ""}});
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_EQ(back->token.expires_at, absl::InfiniteFuture());
  EXPECT_EQ(back->token.issued_at, absl::InfinitePast());
  absl::StatusOr<SharedRecord> old =
      clear.Decode(Fields{{"generation", "3"}, {"access_token", "a"}, {"expires_at", "5000"}});
  ASSERT_THAT(old.status(), IsOk());
  EXPECT_EQ(old->token.issued_at, absl::InfinitePast());
  EXPECT_EQ(clear.Decode(Fields{})->generation, 0u);  // no record
}

TEST(RedisRecord, EncryptedTokensOpenOnlyWithTheKeyPrefixAndGeneration) {
  const std::string key(32, 'k');
  RedisRecordCodec sealed("app:", key);
  std::map<std::string, std::string> stored;
  absl::StatusOr<SharedRecord> back = RoundTrip(sealed, sealed, kRecord, &stored);
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_EQ(back->token.refresh_token, "rt-7");
  EXPECT_EQ(stored.at("encryption"), "aes-256-gcm");
  for (const auto& [field, value] : stored) EXPECT_THAT(value, Not(HasSubstr("rt-7")));
  EXPECT_THAT(RoundTrip(sealed, RedisRecordCodec("app:", std::string(32, 'x')), kRecord).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cannot decrypt")));
  EXPECT_THAT(RoundTrip(sealed, RedisRecordCodec("other:", key), kRecord).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(RoundTrip(sealed, RedisRecordCodec("app:", ""), kRecord).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is encrypted")));
  EXPECT_THAT(RoundTrip(RedisRecordCodec("app:", ""), sealed, kRecord).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stored in clear")));
  // A ciphertext moved to another generation does not open.
  Fields moved;
  for (const auto& [k, v] : stored) moved[k] = v;
  moved["generation"] = "8";
  EXPECT_THAT(sealed.Decode(moved).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(RedisRecord, AMalformedFieldIsNamedNeverQuoted) {
  RedisRecordCodec clear("app:", "");
  EXPECT_THAT(clear.Decode(Fields{{"access_token", "at-SECRET"}}).status(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("'generation' is missing")));
  for (const char* bad : {"07", "-1", "x", "0"}) {
    EXPECT_THAT(clear.Decode(Fields{{"generation", bad}}).status(),
                StatusIs(absl::StatusCode::kInternal, HasSubstr("'generation'")));
  }
  absl::Status s =
      clear
          .Decode(
              Fields{{"generation", "1"}, {"access_token", "at-SECRET"}, {"expires_at", "soon"}})
          .status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInternal, HasSubstr("'expires_at'")));
  EXPECT_THAT(s.message(), Not(HasSubstr("SECRET")));
  EXPECT_THAT(clear.Decode(Fields{{"generation", "1"}, {"encryption", "rot13"}}).status(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("unknown cipher")));
}

}  // namespace
}  // namespace authrefresh
