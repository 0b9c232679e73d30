// The one-host SharedTokenBackend (MakeFileLockBackend): the record file,
// the flock lease, and waits that run on the backend's Clock.

#include "interceptor/shared_token.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::testing::HasSubstr;
using testing::FakeClock;
using testing::IsOk;
using testing::StatusIs;

std::string TempPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name, "-", getpid());
  unlink(path.c_str());
  unlink((path + ".lock").c_str());
  return path;
}

TEST(FileLockBackend, RecordRoundTripAndCompareAndSwap) {
  const std::string path = TempPath("record");
  std::shared_ptr<SharedTokenBackend> b = MakeFileLockBackend(path);
  absl::StatusOr<SharedRecord> empty = b->Read();
  ASSERT_THAT(empty.status(), IsOk());
  EXPECT_EQ(empty->generation, 0u);
  SharedRecord r{1, Token{"at-1", "rt-1", absl::FromUnixSeconds(1'900'000'000), "read write",
                          absl::FromUnixNanos(1'899'996'400'123'456'789)}};
  EXPECT_EQ(b->CompareAndSwap(0, r).value_or(false), true);
  EXPECT_EQ(b->CompareAndSwap(0, r).value_or(true), false);  // stale expectation
  absl::StatusOr<SharedRecord> read = MakeFileLockBackend(path)->Read();
  ASSERT_THAT(read.status(), IsOk());
  EXPECT_EQ(read->generation, 1u);
  EXPECT_EQ(read->token.access_token, "at-1");
  EXPECT_EQ(read->token.refresh_token, "rt-1");
  EXPECT_EQ(read->token.expires_at, absl::FromUnixSeconds(1'900'000'000));
  EXPECT_EQ(read->token.scope, "read write");
  EXPECT_EQ(read->token.issued_at, absl::FromUnixNanos(1'899'996'400'123'456'789));
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// The lease is a flock: exclusive between processes, and released by the
// kernel when its holder is killed.
TEST(FileLockBackend, LeaseIsExclusiveAndFreedWhenTheHolderIsKilled) {
  const std::string path = TempPath("lease");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe calls in the child of a threaded process.
    const std::string lock = path + ".lock";
    const int fd = open(lock.c_str(), O_RDWR | O_CREAT, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) _exit(1);
    if (write(ready[1], "x", 1) != 1) _exit(1);
    for (;;) pause();
  }
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  close(ready[0]);
  std::shared_ptr<SharedTokenBackend> b = MakeFileLockBackend(path);
  EXPECT_EQ(b->TryAcquireLease("me", absl::Seconds(10)).value_or(true), false);
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_EQ(b->TryAcquireLease("me", absl::Seconds(10)).value_or(false), true);
  // Another open file (another replica in this process) is refused, and so
  // is another owner sharing this backend object; only the holder releases.
  std::shared_ptr<SharedTokenBackend> other = MakeFileLockBackend(path);
  EXPECT_EQ(other->TryAcquireLease("other", absl::Seconds(10)).value_or(true), false);
  EXPECT_EQ(b->TryAcquireLease("second-owner", absl::Seconds(10)).value_or(true), false);
  EXPECT_THAT(b->ReleaseLease("second-owner"), IsOk());  // not the holder: nothing
  EXPECT_EQ(other->TryAcquireLease("other", absl::Seconds(10)).value_or(true), false);
  EXPECT_THAT(b->ReleaseLease("me"), IsOk());
  EXPECT_EQ(other->TryAcquireLease("other", absl::Seconds(10)).value_or(false), true);
}

// With nothing changing and the lease held elsewhere, WaitForChange ends at
// its timeout on the backend's clock, exactly.
TEST(FileLockBackend, WaitEndsAtItsTimeoutOnTheBackendsClock) {
  const std::string path = TempPath("wait-timeout");
  auto clock = std::make_shared<FakeClock>();
  std::shared_ptr<SharedTokenBackend> holder = MakeFileLockBackend(path, clock);
  std::shared_ptr<SharedTokenBackend> waiter = MakeFileLockBackend(path, clock);
  ASSERT_EQ(holder->TryAcquireLease("holder", absl::Seconds(30)).value_or(false), true);
  const absl::Time start = clock->Now();
  absl::Status waited;
  const absl::Time end = testing::RunAdvancingClock(*clock, [&] {
    waited = waiter->WaitForChange(0, absl::Seconds(10));
  });
  EXPECT_THAT(waited, IsOk());
  EXPECT_EQ(end - start, absl::Seconds(10));
}

// A write by the holder ends the wait at the waiter's next poll, long before
// its timeout.
TEST(FileLockBackend, WaitEndsAtTheNextPollAfterAWrite) {
  const std::string path = TempPath("wait-write");
  auto clock = std::make_shared<FakeClock>();
  std::shared_ptr<SharedTokenBackend> holder = MakeFileLockBackend(path, clock);
  std::shared_ptr<SharedTokenBackend> waiter = MakeFileLockBackend(path, clock);
  ASSERT_EQ(holder->TryAcquireLease("holder", absl::Seconds(30)).value_or(false), true);
  const absl::Time start = clock->Now();
  std::atomic<bool> done{false};
  std::thread t([&] {
    EXPECT_THAT(waiter->WaitForChange(0, absl::Seconds(10)), IsOk());
    done = true;
  });
  clock->AwaitTimer();  // it looked once and sleeps
  SharedRecord r{1, Token{"at-1", "rt-1"}};
  ASSERT_EQ(holder->CompareAndSwap(0, r).value_or(false), true);
  clock->AdvanceTo(clock->NextTimer());  // its next poll sees generation 1
  t.join();
  EXPECT_TRUE(done);
  EXPECT_LT(clock->Now() - start, absl::Milliseconds(60));
}

// The file holds TokenStore's format; a record of authrefresh 0.4 is read.
TEST(FileLockBackend, ReadsTheRecordFileOfTheLastVersion) {
  const std::string path = TempPath("v1");
  std::ofstream(path) << "authrefresh-shared 1\ngeneration=4\naccess_token=at-4\n"
                         "refresh_token=rt-4\nexpires_at_unix_nanos=never\nscope=\n";
  absl::StatusOr<SharedRecord> read = MakeFileLockBackend(path)->Read();
  ASSERT_THAT(read.status(), IsOk());
  EXPECT_EQ(read->generation, 4u);
  EXPECT_EQ(read->token.access_token, "at-4");
  EXPECT_EQ(read->token.expires_at, absl::InfiniteFuture());
  EXPECT_EQ(read->token.issued_at, absl::InfinitePast());
  std::ofstream(path, std::ios::trunc) << "authrefresh-token 2\naccess_token=a\n"
                                          "refresh_token=\nexpires_at_unix_nanos=never\nscope=\n";
  EXPECT_THAT(MakeFileLockBackend(path)->Read(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("no generation")));
}

}  // namespace
}  // namespace authrefresh
