#include "interceptor/internal/grant_worker.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

namespace authrefresh {
namespace internal {

GrantQueue::GrantQueue(std::string who, std::function<void()> wake)
    : who_(std::move(who)), wake_(std::move(wake)) {}

void GrantQueue::Submit(const GrantRequest& request, TokenRefresher::Done done) {
  absl::Status refused;
  {
    MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::CancelledError(absl::StrCat(who_, " destroyed"));
    } else if (next_) {
      // INTERNAL, transient: a refresher's FAILED_PRECONDITION would mean a
      // rejected client.
      refused = absl::InternalError(absl::StrCat(who_, ": a refresh is already queued"));
    } else {
      next_ = Job{request, std::move(done)};
      changed_.SignalAll();
    }
  }
  if (!refused.ok()) {
    done(refused);
    return;
  }
  if (wake_) wake_();
}

std::optional<GrantQueue::Job> GrantQueue::Stop() {
  std::optional<Job> untaken;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    untaken.swap(next_);
    changed_.SignalAll();
  }
  if (wake_) wake_();
  return untaken;
}

std::optional<GrantQueue::Job> GrantQueue::Take() {
  MutexLock lock(&mu_);
  std::optional<Job> job;
  job.swap(next_);
  return job;
}

bool GrantQueue::stopping() {
  MutexLock lock(&mu_);
  return stopping_;
}

GrantQueue::Woken GrantQueue::Wait(Clock& clock, absl::Time until) {
  std::shared_ptr<Clock::Timer> timer;
  uint64_t seen = 0;
  {
    MutexLock lock(&mu_);
    if (stopping_) return Woken::kStopping;
    if (next_) return Woken::kJob;
    seen = timeouts_;
  }
  if (until != absl::InfiniteFuture()) {
    if (clock.Now() >= until) return Woken::kTimeout;
    // The queue outlives the worker, which cancels the timer before it
    // returns from here.
    timer = clock.Schedule(until, [this] {
      MutexLock lock(&mu_);
      ++timeouts_;
      changed_.SignalAll();
    });
  }
  Woken woken = Woken::kTimeout;
  {
    MutexLock lock(&mu_);
    while (!stopping_ && !next_ && timeouts_ == seen) mu_.Wait(&changed_);
    woken = stopping_ ? Woken::kStopping : next_ ? Woken::kJob : Woken::kTimeout;
  }
  if (timer != nullptr && !timer->Cancel()) {
    // Fired or firing: it touches this queue, so wait until it has.
    MutexLock lock(&mu_);
    while (timeouts_ == seen) mu_.Wait(&changed_);
  }
  return woken;
}

void WorkerThread::StartOnce(std::function<void()> body) {
  absl::call_once(started_, [this, &body] { thread_ = std::thread(std::move(body)); });
}

void WorkerThread::Join() {
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

}  // namespace internal
}  // namespace authrefresh
