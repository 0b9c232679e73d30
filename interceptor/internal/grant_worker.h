// interceptor/internal/grant_worker.h
//
// The worker thread of a refresher whose grants do I/O that must not run on
// a caller's thread (the HTTP refresher's libcurl exchange, the shared
// refresher's backend calls): `GrantQueue`, the one grant waiting for the
// worker, and `WorkerThread`, the thread, started at the first grant.
//
//   refresher:  Refresh() -> queue.Submit(); thread.StartOnce(body)
//   worker:     body loops on queue.Take() / queue.Wait() until stopping()
//   ~refresher: queue.Stop() (fail the job it returns), then thread.Join()

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_GRANT_WORKER_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_GRANT_WORKER_H_

#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/call_once.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "interceptor/clock.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {
namespace internal {

class GrantQueue {
 public:
  struct Job {
    GrantRequest request;
    TokenRefresher::Done done;
  };
  enum class Woken { kJob, kStopping, kTimeout };

  // `wake`, if set, interrupts a worker that waits elsewhere than in Wait()
  // (curl_multi_poll, say); it is called after every Submit and Stop.
  // `who` names the refresher in errors.
  GrantQueue(std::string who, std::function<void()> wake = nullptr);

  // Queues a grant. A TokenManager never overlaps grants, so a second one
  // while one is queued is refused: `done` runs at once with INTERNAL (a
  // transient error); after Stop(), with CANCELLED.
  void Submit(const GrantRequest& request, TokenRefresher::Done done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The refresher is going: the worker's Wait() returns kStopping from now
  // on. Returns the job the worker never took, for the caller to fail.
  std::optional<Job> Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // For the worker: the queued job, if any, without waiting.
  std::optional<Job> Take() ABSL_LOCKS_EXCLUDED(mu_);
  bool stopping() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until a job is queued, Stop() is called, or `clock` reaches
  // `until` (InfiniteFuture: no timeout).
  Woken Wait(Clock& clock, absl::Time until) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::string who_;
  const std::function<void()> wake_;
  Mutex mu_;
  absl::CondVar changed_;
  std::optional<Job> next_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t timeouts_ ABSL_GUARDED_BY(mu_) = 0;  // timers of Wait() that fired
};

class WorkerThread {
 public:
  WorkerThread() = default;
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;
  ~WorkerThread() { Join(); }

  // Starts the thread running `body` the first time; later calls do nothing
  // (and wait until the first has set the thread: the worker itself may call
  // Refresh from a grant's callback while the first Refresh is still here).
  void StartOnce(std::function<void()> body);

  // Waits for `body` to return. Called on the worker itself (a refresher
  // destroyed from its own grant's callback), detaches it instead: the body
  // then returns on its own, and must hold what it uses by shared_ptr.
  void Join();

 private:
  absl::once_flag started_;
  std::thread thread_;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_GRANT_WORKER_H_
