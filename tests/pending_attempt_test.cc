// How an attempt gets its token through gRPC core's plugin
// (internal/pending_attempt): core's callback runs exactly once, never
// inside get_metadata, and an answer that arrives while get_metadata still
// runs is given as its synchronous return.

#include "interceptor/internal/pending_attempt.h"

#include <memory>
#include <string>
#include <vector>

#include "grpc/grpc.h"
#include "grpc/slice.h"
#include "grpc/support/alloc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::AnswerNow;
using internal::AttachNow;
using internal::PendingAttempt;
using internal::Snapshot;
using internal::TokenSnapshot;
using testing::StatusIs;

struct Answer {
  std::vector<std::pair<std::string, std::string>> metadata;
  grpc_status_code status = GRPC_STATUS_OK;
  std::string details;
};

// The bytes of a slice the caller keeps.
std::string View(const grpc_slice& s) {
  return std::string(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(s)),
                     GRPC_SLICE_LENGTH(s));
}

void Record(void* user_data, const grpc_metadata* md, size_t n, grpc_status_code status,
            const char* details) {
  auto* answers = static_cast<std::vector<Answer>*>(user_data);
  Answer a;
  for (size_t i = 0; i < n; ++i) {
    a.metadata.emplace_back(View(md[i].key), View(md[i].value));
  }
  a.status = status;
  if (details != nullptr) a.details = details;
  answers->push_back(std::move(a));
}

Snapshot Token(uint64_t generation, const std::string& access) {
  auto s = std::make_shared<TokenSnapshot>();
  s->id = 1000 + generation;
  s->generation = generation;
  s->token.access_token = access;
  s->authorization = "Bearer " + access;
  return s;
}

std::string Str(grpc_slice s) {
  std::string out(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(s)), GRPC_SLICE_LENGTH(s));
  grpc_slice_unref(s);
  return out;
}

class PendingAttemptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { grpc_init(); }
  static void TearDownTestSuite() { grpc_shutdown(); }
  std::vector<Answer> answers_;
};

TEST_F(PendingAttemptTest, AWaitingAttemptIsAnsweredOnceThroughCoresCallback) {
  PendingAttempt p(2, &Record, &answers_);
  EXPECT_FALSE(p.Detach(/*ticket=*/7).has_value());  // nothing yet: it waits
  EXPECT_EQ(p.WaitingTicket(), 7u);
  p.Complete(Token(3, "at-3"));
  p.Complete(absl::CancelledError("late"));  // ignored: answered already
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_EQ(answers_[0].status, GRPC_STATUS_OK);
  EXPECT_THAT(answers_[0].metadata,
              ::testing::ElementsAre(std::make_pair("authorization", "Bearer at-3")));
  uint64_t generation = 0;
  absl::Status failure;
  ASSERT_TRUE(p.Ended(&generation, &failure));
  EXPECT_EQ(generation, 3u);
  EXPECT_TRUE(failure.ok());
  EXPECT_EQ(p.attempt(), 2);
  EXPECT_EQ(p.WaitingTicket(), 0u);
}

// The coordinator answered before get_metadata returned (an inline
// refresher): the answer is its synchronous return, never the callback.
TEST_F(PendingAttemptTest, AnAnswerBeforeDetachIsTheSynchronousReturn) {
  PendingAttempt p(1, &Record, &answers_);
  p.Complete(absl::UnauthenticatedError("session expired"));
  std::optional<absl::StatusOr<Snapshot>> now = p.Detach(9);
  ASSERT_TRUE(now.has_value());
  EXPECT_THAT(now->status(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_TRUE(answers_.empty());
  uint64_t generation = 0;
  absl::Status failure;
  ASSERT_TRUE(p.Ended(&generation, &failure));
  EXPECT_EQ(generation, 0u);
  EXPECT_THAT(failure, StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(PendingAttemptTest, AnswersGivenAtOnceFillCoresArrays) {
  grpc_metadata md[GRPC_METADATA_CREDENTIALS_PLUGIN_SYNC_MAX];
  size_t n = 0;
  grpc_status_code status = GRPC_STATUS_OK;
  const char* details = nullptr;
  AnswerNow(Token(4, "at-4"), md, &n, &status, &details);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(Str(md[0].key), "authorization");
  EXPECT_EQ(Str(md[0].value), "Bearer at-4");
  EXPECT_EQ(details, nullptr);
  // The same snapshot again: the header slice is this thread's cached one
  // (a token too long for an inlined slice, so the bytes are shared).
  const auto long_token = Token(5, std::string(64, 'x'));
  AttachNow(*long_token, md, &n);
  grpc_slice first = md[0].value;
  AttachNow(*long_token, md, &n);
  EXPECT_EQ(GRPC_SLICE_START_PTR(first), GRPC_SLICE_START_PTR(md[0].value));
  grpc_slice_unref(first);
  grpc_slice_unref(md[0].value);
  n = 0;
  AnswerNow(absl::UnavailableError("refresh failing"), md, &n, &status, &details);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(status, GRPC_STATUS_UNAVAILABLE);
  ASSERT_NE(details, nullptr);
  EXPECT_STREQ(details, "refresh failing");
  gpr_free(const_cast<char*>(details));
}

}  // namespace
}  // namespace authrefresh
