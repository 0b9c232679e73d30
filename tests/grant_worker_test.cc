// The worker of a refresher that does blocking I/O (internal/grant_worker):
// one queued grant, refusals that are transient, waits on a fake clock.

#include "interceptor/internal/grant_worker.h"

#include <atomic>
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::GrantQueue;
using internal::WorkerThread;
using ::testing::HasSubstr;
using testing::FakeClock;
using testing::StatusIs;

TEST(GrantQueue, HoldsOneGrantAndRefusesASecondAsTransient) {
  int wakes = 0;
  GrantQueue q("test refresher", [&] { ++wakes; });
  absl::Status second;
  q.Submit(GrantRequest{"rt-1"}, [](absl::StatusOr<Token>) {});
  q.Submit(GrantRequest{"rt-2"}, [&](absl::StatusOr<Token> r) { second = r.status(); });
  // INTERNAL: a refresher's FAILED_PRECONDITION would mean a rejected client.
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kInternal,
                               HasSubstr("test refresher: a refresh is already queued")));
  EXPECT_EQ(wakes, 1);
  std::optional<GrantQueue::Job> job = q.Take();
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->request.refresh_token, "rt-1");
  EXPECT_FALSE(q.Take().has_value());
}

TEST(GrantQueue, StopHandsBackTheUntakenJobAndRefusesLaterOnes) {
  GrantQueue q("test refresher");
  q.Submit(GrantRequest{"rt-1"}, [](absl::StatusOr<Token>) {});
  std::optional<GrantQueue::Job> untaken = q.Stop();
  ASSERT_TRUE(untaken.has_value());
  EXPECT_EQ(untaken->request.refresh_token, "rt-1");
  EXPECT_TRUE(q.stopping());
  absl::Status late;
  q.Submit(GrantRequest{}, [&](absl::StatusOr<Token> r) { late = r.status(); });
  EXPECT_THAT(late, StatusIs(absl::StatusCode::kCancelled));
  auto clock = std::make_shared<FakeClock>();
  EXPECT_EQ(q.Wait(*clock, absl::InfiniteFuture()), GrantQueue::Woken::kStopping);
}

TEST(GrantQueue, WaitEndsForAJobAStopOrTheClocksTime) {
  auto clock = std::make_shared<FakeClock>();
  GrantQueue q("test refresher");
  // The clock's time: a timer at `until`, fired by the test.
  std::atomic<int> woken{-1};
  std::thread waiter(
      [&] { woken = static_cast<int>(q.Wait(*clock, clock->Now() + absl::Seconds(5))); });
  clock->AwaitTimer();
  clock->Advance(absl::Seconds(4));
  EXPECT_EQ(woken, -1);  // not yet
  clock->Advance(absl::Seconds(1));
  waiter.join();
  EXPECT_EQ(woken, static_cast<int>(GrantQueue::Woken::kTimeout));
  EXPECT_EQ(clock->PendingTimers(), 0);
  // A job ends the wait and cancels its timer.
  std::thread job_waiter(
      [&] { woken = static_cast<int>(q.Wait(*clock, clock->Now() + absl::Hours(1))); });
  clock->AwaitTimer();
  q.Submit(GrantRequest{}, [](absl::StatusOr<Token>) {});
  job_waiter.join();
  EXPECT_EQ(woken, static_cast<int>(GrantQueue::Woken::kJob));
  EXPECT_EQ(clock->PendingTimers(), 0);
  EXPECT_EQ(q.Wait(*clock, absl::InfiniteFuture()), GrantQueue::Woken::kJob);  // still queued
}

TEST(WorkerThread, StartsOnceAndJoins) {
  WorkerThread t;
  std::atomic<int> runs{0};
  absl::Notification release;
  t.StartOnce([&] {
    ++runs;
    release.WaitForNotification();
  });
  t.StartOnce([&] { ++runs; });  // already started: ignored
  release.Notify();
  t.Join();
  EXPECT_EQ(runs, 1);
}

// A refresher destroyed from its own grant's callback joins from the worker
// itself: the thread is detached, and finishes on its own.
TEST(WorkerThread, JoinFromTheWorkerItselfDetaches) {
  auto t = std::make_shared<WorkerThread>();
  absl::Notification joined;
  std::shared_ptr<WorkerThread> keep = t;
  t->StartOnce([&joined, keep]() mutable {
    keep->Join();  // on itself
    joined.Notify();
  });
  ASSERT_TRUE(joined.WaitForNotificationWithTimeout(absl::Seconds(30)));
  t->Join();  // detached already: nothing to join
}

}  // namespace
}  // namespace authrefresh
