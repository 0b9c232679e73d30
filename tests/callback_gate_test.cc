// When a TokenManager's application callbacks may run
// (internal/callback_gate): only until it is closed, and closing waits for
// those running.

#include "interceptor/internal/callback_gate.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace authrefresh {
namespace {

using internal::CallbackGate;

TEST(CallbackGate, RunsUntilClosedThenNothing) {
  CallbackGate gate;
  int runs = 0;
  gate.Run([&] { ++runs; });
  gate.Close();
  gate.Run([&] { ++runs; });
  gate.Close();  // idempotent
  EXPECT_EQ(runs, 1);
}

TEST(CallbackGate, CloseWaitsForTheCallbackRunningOnAnotherThread) {
  CallbackGate gate;
  absl::Notification inside, release;
  std::atomic<bool> finished{false};
  std::thread t([&] {
    gate.Run([&] {
      inside.Notify();
      release.WaitForNotification();
      finished = true;
    });
  });
  inside.WaitForNotification();
  std::atomic<bool> closed{false};
  std::thread closer([&] {
    gate.Close();
    closed = true;
    EXPECT_TRUE(finished);  // Close returned only after the callback did
  });
  release.Notify();
  closer.join();
  t.join();
  EXPECT_TRUE(closed);
}

// A callback that destroys its own TokenManager closes the gate from inside
// a Run: it must not wait for itself.
TEST(CallbackGate, CloseFromInsideItsOwnCallbackDoesNotWaitForItself) {
  CallbackGate gate;
  bool closed_inside = false;
  gate.Run([&] {
    gate.Close();
    closed_inside = true;
  });
  EXPECT_TRUE(closed_inside);
  int later = 0;
  gate.Run([&] { ++later; });
  EXPECT_EQ(later, 0);
}

}  // namespace
}  // namespace authrefresh
