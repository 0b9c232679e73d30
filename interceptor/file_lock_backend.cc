// MakeFileLockBackend: SharedTokenBackend for the processes of one host.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/shared_token.h"

namespace authrefresh {
namespace {

using internal::Mutex;
using internal::MutexLock;

constexpr absl::string_view kHeader = "authrefresh-shared 1";
constexpr absl::Duration kFirstPoll = absl::Milliseconds(1);
constexpr absl::Duration kMaxPoll = absl::Milliseconds(50);
// CompareAndSwap without the lease waits at most this long for the lock.
constexpr absl::Duration kLockWait = absl::Seconds(5);

// A failed system call: a permission or a read-only or full file system is
// a misconfiguration (PERMISSION_DENIED, FAILED_PRECONDITION); anything
// else is UNAVAILABLE.
absl::Status Errno(absl::string_view what, const std::string& path) {
  const int e = errno;
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  if (e == EACCES || e == EPERM) code = absl::StatusCode::kPermissionDenied;
  if (e == EROFS || e == ENOSPC || e == EDQUOT || e == ENOTDIR || e == ELOOP) {
    code = absl::StatusCode::kFailedPrecondition;
  }
  return absl::Status(code, absl::StrCat("shared token file: ", what, " ", path, ": ",
                                         std::strerror(e)));
}

std::string Serialize(const SharedRecord& r) {
  const Token& t = r.token;
  return absl::StrCat(
      kHeader, "\ngeneration=", r.generation, "\naccess_token=", t.access_token,
      "\nrefresh_token=", t.refresh_token, "\nexpires_at_unix_nanos=",
      t.expires_at == absl::InfiniteFuture() ? std::string("never")
                                             : absl::StrCat(absl::ToUnixNanos(t.expires_at)),
      "\nscope=", t.scope, "\n");
}

absl::StatusOr<SharedRecord> Parse(absl::string_view text, const std::string& path) {
  auto bad = [&path](absl::string_view why) {
    // Never quotes the content: it holds tokens.
    return absl::InternalError(absl::StrCat("shared token file ", path, ": ", why));
  };
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.empty() || lines[0] != kHeader) return bad("not an authrefresh shared record");
  SharedRecord r;
  bool have_generation = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(lines[i], absl::MaxSplits('=', 1));
    if (kv.first == "generation") {
      if (!absl::SimpleAtoi(kv.second, &r.generation)) return bad("generation is not a number");
      have_generation = true;
    } else if (kv.first == "access_token") {
      r.token.access_token = std::string(kv.second);
    } else if (kv.first == "refresh_token") {
      r.token.refresh_token = std::string(kv.second);
    } else if (kv.first == "expires_at_unix_nanos") {
      int64_t nanos = 0;
      if (kv.second == "never") {
        r.token.expires_at = absl::InfiniteFuture();
      } else if (absl::SimpleAtoi(kv.second, &nanos)) {
        r.token.expires_at = absl::FromUnixNanos(nanos);
      } else {
        return bad("expires_at_unix_nanos is not a number");
      }
    } else if (kv.first == "scope") {
      r.token.scope = std::string(kv.second);
    } else {
      return bad("unknown field");
    }
  }
  if (!have_generation) return bad("no generation");
  return r;
}

class FileLockBackend final : public SharedTokenBackend {
 public:
  explicit FileLockBackend(std::string path)
      : path_(std::move(path)), lock_path_(path_ + ".lock") {}

  ~FileLockBackend() override {
    MutexLock lock(&mu_);
    if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
  }

  absl::StatusOr<SharedRecord> Read() override {
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
      if (errno == ENOENT) return SharedRecord{};
      return Errno("cannot read", path_);
    }
    std::stringstream text;
    text << in.rdbuf();
    return Parse(text.str(), path_);
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
        return absl::UnavailableError(absl::StrCat(
            "shared token file: ", lock_path_, " stayed locked for ",
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
    const absl::Time deadline = absl::Now() + timeout;
    absl::Duration pause = kFirstPoll;
    for (;;) {
      absl::StatusOr<SharedRecord> r = Read();
      if (!r.ok()) return r.status();
      if (r->generation != generation || LockIsFree()) return absl::OkStatus();
      const absl::Time now = absl::Now();
      if (now >= deadline) return absl::OkStatus();
      absl::SleepFor(std::min(pause, deadline - now));
      pause = std::min(pause * 2, kMaxPoll);
    }
  }

 private:
  // Opens the lock file once and takes flock(LOCK_EX) on it: at once, or
  // (`wait`) polling for up to kLockWait.
  absl::StatusOr<bool> LockLocked(bool wait) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (lock_fd_ < 0) {
      lock_fd_ = open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (lock_fd_ < 0) return Errno("cannot open", lock_path_);
    }
    const absl::Time deadline = absl::Now() + kLockWait;
    absl::Duration pause = kFirstPoll;
    for (;;) {
      if (flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) return true;
      if (errno != EWOULDBLOCK && errno != EINTR) return Errno("cannot lock", lock_path_);
      if (!wait || absl::Now() >= deadline) return false;
      absl::SleepFor(pause);
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
    const std::string temp = absl::StrCat(path_, ".tmp.", getpid());
    unlink(temp.c_str());  // a leftover of this pid's crash; we hold the lock
    const int fd =
        open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("cannot create", temp);
    const std::string text = Serialize(record);
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        absl::Status s = Errno("cannot write", temp);
        close(fd);
        unlink(temp.c_str());
        return s;
      }
      done += static_cast<size_t>(n);
    }
    if (fsync(fd) != 0) {
      absl::Status s = Errno("cannot sync", temp);
      close(fd);
      unlink(temp.c_str());
      return s;
    }
    close(fd);
    if (rename(temp.c_str(), path_.c_str()) != 0) {
      absl::Status s = Errno("cannot rename over", path_);
      unlink(temp.c_str());
      return s;
    }
    // The rename is durable once the directory is: after a power loss the
    // file must not fall back to a record whose refresh token was rotated.
    const size_t slash = path_.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
    const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return Errno("cannot open the directory", dir);
    const int synced = fsync(dir_fd);
    close(dir_fd);
    if (synced != 0) return Errno("cannot sync the directory", dir);
    return true;
  }

  const std::string path_;
  const std::string lock_path_;
  Mutex mu_;
  int lock_fd_ ABSL_GUARDED_BY(mu_) = -1;
  std::string holder_ ABSL_GUARDED_BY(mu_);  // the lease's owner; empty: not held
};

}  // namespace

std::shared_ptr<SharedTokenBackend> MakeFileLockBackend(std::string path) {
  return std::make_shared<FileLockBackend>(std::move(path));
}

}  // namespace authrefresh
