// The call credentials objects calls borrow (internal/call_credentials_pool):
// reused from call to call, each running its call's attempts.

#include "interceptor/internal/call_credentials_pool.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "grpc/grpc.h"
#include "grpc/support/alloc.h"
#include "gtest/gtest.h"

namespace authrefresh {
namespace {

using internal::CallCredentialsPool;

// What the fake attempt saw.
struct Seen {
  std::vector<void*> calls;
};
Seen* seen = nullptr;

int FakeAttempt(void* call, const grpc_auth_metadata_context&, grpc_credentials_plugin_metadata_cb,
                void*, grpc_metadata*,
                size_t* num_creds_md, grpc_status_code* status, const char** error_details) {
  seen->calls.push_back(call);
  *num_creds_md = 0;
  *status = GRPC_STATUS_OK;
  *error_details = nullptr;
  return 1;
}

class PoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { grpc_init(); }
  static void TearDownTestSuite() { grpc_shutdown(); }
  void SetUp() override { seen = &seen_; }
  void TearDown() override { seen = nullptr; }

  int Attempt(CallCredentialsPool::Slot* slot, grpc_status_code* status,
              std::string* error = nullptr) {
    grpc_metadata md[GRPC_METADATA_CREDENTIALS_PLUGIN_SYNC_MAX];
    size_t n = 0;
    const char* details = nullptr;
    grpc_auth_metadata_context context;
    std::memset(&context, 0, sizeof(context));
    const int sync = CallCredentialsPool::GetMetadata(slot, context, nullptr, nullptr, md, &n,
                                                      status, &details);
    if (details != nullptr) {
      if (error != nullptr) *error = details;
      gpr_free(const_cast<char*>(details));
    }
    return sync;
  }

  Seen seen_;
};

TEST_F(PoolTest, EachSlotRunsTheAttemptsOfTheCallItServes) {
  CallCredentialsPool pool(GRPC_PRIVACY_AND_INTEGRITY, &FakeAttempt);
  int call_a = 0, call_b = 0;
  CallCredentialsPool::Slot* a = pool.Take(&call_a);
  CallCredentialsPool::Slot* b = pool.Take(&call_b);
  ASSERT_NE(a, b);
  EXPECT_NE(a->credentials(), nullptr);
  grpc_status_code status;
  EXPECT_EQ(Attempt(a, &status), 1);
  EXPECT_EQ(Attempt(b, &status), 1);
  EXPECT_EQ(Attempt(a, &status), 1);  // a replay of call a
  EXPECT_EQ(seen_.calls, (std::vector<void*>{&call_a, &call_b, &call_a}));
  pool.GiveBack(a);
  pool.GiveBack(b);
}

TEST_F(PoolTest, AGivenBackSlotServesTheNextCallAndAnsweredNothingMeanwhile) {
  CallCredentialsPool pool(GRPC_SECURITY_NONE, &FakeAttempt);
  int first = 0, second = 0;
  CallCredentialsPool::Slot* slot = pool.Take(&first);
  grpc_call_credentials* credentials = slot->credentials();
  pool.GiveBack(slot);
  // A late attempt of a call that is over adds nothing.
  grpc_status_code status = GRPC_STATUS_OK;
  std::string error;
  EXPECT_EQ(Attempt(slot, &status, &error), 1);
  EXPECT_EQ(status, GRPC_STATUS_CANCELLED);
  EXPECT_EQ(error, "authrefresh: the call is over");
  EXPECT_TRUE(seen_.calls.empty());
  // The next call gets the same object back, not a new one.
  CallCredentialsPool::Slot* again = pool.Take(&second);
  EXPECT_EQ(again, slot);
  EXPECT_EQ(again->credentials(), credentials);
  EXPECT_EQ(Attempt(again, &status), 1);
  EXPECT_EQ(seen_.calls, (std::vector<void*>{&second}));
  pool.GiveBack(again);
}

TEST_F(PoolTest, KeepsAtMostTheIdleLimitAndReleasesTheRest) {
  CallCredentialsPool pool(GRPC_SECURITY_NONE, &FakeAttempt);
  const size_t n = CallCredentialsPool::kMaxIdle + 10;
  std::vector<int> calls(n);
  std::vector<CallCredentialsPool::Slot*> slots;
  for (size_t i = 0; i < n; ++i) slots.push_back(pool.Take(&calls[i]));
  for (CallCredentialsPool::Slot* s : slots) pool.GiveBack(s);
  // The first kMaxIdle came back to the pool and are handed out again.
  std::vector<CallCredentialsPool::Slot*> reused;
  for (size_t i = 0; i < CallCredentialsPool::kMaxIdle; ++i) reused.push_back(pool.Take(&calls[i]));
  for (CallCredentialsPool::Slot* s : reused) {
    EXPECT_NE(std::find(slots.begin(), slots.begin() + CallCredentialsPool::kMaxIdle, s),
              slots.begin() + CallCredentialsPool::kMaxIdle);
  }
  for (CallCredentialsPool::Slot* s : reused) pool.GiveBack(s);
}

}  // namespace
}  // namespace authrefresh
