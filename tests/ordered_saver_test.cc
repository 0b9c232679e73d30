// OrderedSaver (internal/ordered_saver): saves never overlap and never go
// back to an older token, and each Save returns once its token or a newer
// one is saved. Ordering comes from a store that blocks until released and
// from the saver's own waits; no sleeps.

#include "interceptor/internal/ordered_saver.h"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace authrefresh {
namespace {

using internal::OrderedSaver;
using ::testing::ElementsAre;

// Records every save; each blocks until the test releases it. (Its lock
// is internal::Mutex, which ThreadSanitizer sees.)
class BlockingStore {
 public:
  void Save(const Token& token) {
    internal::MutexLock lock(&mu_);
    EXPECT_FALSE(saving_) << "two saves overlap";
    saving_ = true;
    entered_.push_back(token.access_token);
    changed_.SignalAll();
    const size_t mine = entered_.size();
    while (released_ < mine) mu_.Wait(&changed_);
    saving_ = false;
  }
  // Waits until a save of `access_token` has started.
  void AwaitSaving(const std::string& access_token) {
    internal::MutexLock lock(&mu_);
    while (std::find(entered_.begin(), entered_.end(), access_token) == entered_.end()) {
      mu_.Wait(&changed_);
    }
  }
  void ReleaseOne() {
    internal::MutexLock lock(&mu_);
    ++released_;
    changed_.SignalAll();
  }
  void ReleaseAll() {
    internal::MutexLock lock(&mu_);
    released_ = 1'000'000;
    changed_.SignalAll();
  }
  std::vector<std::string> saved() {
    internal::MutexLock lock(&mu_);
    return entered_;
  }

 private:
  internal::Mutex mu_;
  absl::CondVar changed_;
  bool saving_ ABSL_GUARDED_BY(mu_) = false;
  size_t released_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> entered_ ABSL_GUARDED_BY(mu_);
};

Token T(std::string access) { return Token{std::move(access), "rt"}; }

TEST(OrderedSaver, SavesInOrderAndSkipsOlderTokens) {
  std::vector<std::string> saved;
  OrderedSaver saver([&](const Token& t) { saved.push_back(t.access_token); });
  saver.Save(2, T("at-2"));
  saver.Save(1, T("at-1"));  // older than the one saved: skipped
  saver.Save(2, T("at-2"));  // saved already
  saver.Save(5, T("at-5"));
  EXPECT_THAT(saved, ElementsAre("at-2", "at-5"));
}

// at-2 is being saved when at-4 arrives on another thread; at-4 is saved
// next, by whichever thread. While at-4 is being saved, at-3 arrives: it is
// older than the token being saved, so it is never written over it, and its
// Save returns once at-4 is saved.
TEST(OrderedSaver, AnOlderTokenArrivingDuringANewerSaveIsNeverWrittenOverIt) {
  BlockingStore store;
  OrderedSaver saver([&](const Token& t) { store.Save(t); });
  std::thread first([&] { saver.Save(2, T("at-2")); });
  store.AwaitSaving("at-2");
  absl::Notification newer_returned;
  std::thread newer([&] {
    saver.Save(4, T("at-4"));
    newer_returned.Notify();
  });
  store.ReleaseOne();  // at-2 done
  store.AwaitSaving("at-4");
  EXPECT_FALSE(newer_returned.HasBeenNotified());  // at-4 is not saved yet
  absl::Notification older_returned;
  std::thread older([&] {
    saver.Save(3, T("at-3"));
    older_returned.Notify();
  });
  store.ReleaseAll();
  first.join();
  newer.join();
  older.join();
  EXPECT_TRUE(older_returned.HasBeenNotified());
  EXPECT_THAT(store.saved(), ElementsAre("at-2", "at-4"));
}

}  // namespace
}  // namespace authrefresh
