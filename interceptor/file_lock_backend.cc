// MakeFileLockBackend: SharedTokenBackend for the processes of one host.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "interceptor/internal/clock_wait.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/internal/token_file.h"
#include "interceptor/shared_token.h"

namespace authrefresh {
namespace {

using internal::Mutex;
using internal::MutexLock;

constexpr absl::string_view kWhat = "shared token file";
constexpr absl::Duration kFirstPoll = absl::Milliseconds(1);
constexpr absl::Duration kMaxPoll = absl::Milliseconds(50);
// CompareAndSwap without the lease waits at most this long for the lock.
constexpr absl::Duration kLockWait = absl::Seconds(5);

class FileLockBackend final : public SharedTokenBackend {
 public:
  FileLockBackend(std::string path, std::shared_ptr<Clock> clock)
      : path_(std::move(path)), lock_path_(path_ + ".lock"), clock_(std::move(clock)) {}

  ~FileLockBackend() override {
    MutexLock lock(&mu_);
    if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
  }

  absl::StatusOr<SharedRecord> Read() override {
    absl::StatusOr<std::optional<std::string>> text = internal::ReadWholeFile(path_, kWhat);
    if (!text.ok()) return text.status();
    if (!text->has_value()) return SharedRecord{};
    absl::StatusOr<internal::TokenFile> file =
        internal::ParseTokenFile(**text, absl::StrCat(kWhat, " ", path_));
    if (!file.ok()) return file.status();
    if (!file->generation.has_value() || *file->generation == 0) {
      return absl::DataLossError(
          absl::StrCat(kWhat, " ", path_, " is not a shared record: it has no generation"));
    }
    return SharedRecord{*file->generation, std::move(file->token)};
  }

  absl::StatusOr<bool> TryAcquireLease(const std::string& owner, absl::Duration) override {
    MutexLock lock(&mu_);
    // One flock per backend object: a second owner sharing the object is
    // refused like another process.
    if (!holder_.empty()) return holder_ == owner;
    absl::StatusOr<bool> taken = LockLocked(/*wait=*/false);
    if (taken.ok() && *taken) holder_ = owner;
    return taken;
  }

  absl::StatusOr<bool> CompareAndSwap(uint64_t expected, const SharedRecord& record) override {
    MutexLock lock(&mu_);
    const bool had_lease = !holder_.empty();
    if (!had_lease) {
      absl::StatusOr<bool> taken = LockLocked(/*wait=*/true);
      if (!taken.ok()) return taken.status();
      if (!*taken) {
        return absl::UnavailableError(absl::StrCat(kWhat, ": ", lock_path_, " stayed locked for ",
                                                   absl::FormatDuration(kLockWait)));
      }
    }
    absl::StatusOr<bool> written = WriteIfGenerationLocked(expected, record);
    if (!had_lease) UnlockLocked();
    return written;
  }

  absl::Status ReleaseLease(const std::string& owner) override {
    MutexLock lock(&mu_);
    if (!holder_.empty() && holder_ == owner) {
      holder_.clear();
      UnlockLocked();
    }
    return absl::OkStatus();
  }

  absl::Status WaitForChange(uint64_t generation, absl::Duration timeout) override {
    const absl::Time deadline = clock_->Now() + timeout;
    absl::Duration pause = kFirstPoll;
    for (;;) {
      absl::StatusOr<SharedRecord> r = Read();
      if (!r.ok()) return r.status();
      if (r->generation != generation || LockIsFree()) return absl::OkStatus();
      const absl::Time now = clock_->Now();
      if (now >= deadline) return absl::OkStatus();
      internal::SleepUntil(*clock_, std::min(now + pause, deadline));
      pause = std::min(pause * 2, kMaxPoll);
    }
  }

 private:
  // Opens the lock file once and takes flock(LOCK_EX) on it: at once, or
  // (`wait`) polling for up to kLockWait.
  absl::StatusOr<bool> LockLocked(bool wait) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (lock_fd_ < 0) {
      lock_fd_ = open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (lock_fd_ < 0) return internal::ErrnoStatus(errno, kWhat, "cannot open", lock_path_);
    }
    const absl::Time deadline = clock_->Now() + kLockWait;
    absl::Duration pause = kFirstPoll;
    for (;;) {
      if (flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) return true;
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return internal::ErrnoStatus(errno, kWhat, "cannot lock", lock_path_);
      }
      const absl::Time now = clock_->Now();
      if (!wait || now >= deadline) return false;
      internal::SleepUntil(*clock_, std::min(now + pause, deadline));
      pause = std::min(pause * 2, kMaxPoll);
    }
  }

  void UnlockLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { flock(lock_fd_, LOCK_UN); }

  // Whether another process could take the lock now (probed with a separate
  // open file description, which flock treats as another owner).
  bool LockIsFree() {
    const int fd = open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    const bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd);  // releases the probe's lock, if it got one
    return free;
  }

  absl::StatusOr<bool> WriteIfGenerationLocked(uint64_t expected, const SharedRecord& record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::StatusOr<SharedRecord> current = Read();
    if (!current.ok()) return current.status();
    if (current->generation != expected) return false;
    absl::StatusOr<std::string> text =
        internal::SerializeTokenFile({record.generation, record.token});
    if (!text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(kWhat, ": ", text.status().message()));
    }
    absl::Status written = internal::WriteFileAtomically(path_, *text, kWhat);
    if (!written.ok()) return written;
    return true;
  }

  const std::string path_;
  const std::string lock_path_;
  const std::shared_ptr<Clock> clock_;
  Mutex mu_;
  int lock_fd_ ABSL_GUARDED_BY(mu_) = -1;
  std::string holder_ ABSL_GUARDED_BY(mu_);  // the lease's owner; empty: not held
};

}  // namespace

std::shared_ptr<SharedTokenBackend> MakeFileLockBackend(std::string path,
                                                        std::shared_ptr<Clock> clock) {
  return std::make_shared<FileLockBackend>(std::move(path),
                                           internal::ClockOrSystem(std::move(clock)));
}

}  // namespace authrefresh
