// MakeSharedTokenRefresher: the protocol of shared_token.h
// (internal/shared_protocol.h) on one worker thread per refresher.

#include <unistd.h>

#include <memory>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "interceptor/dpop.h"
#include "interceptor/internal/clock_wait.h"
#include "interceptor/internal/grant_worker.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/internal/shared_protocol.h"
#include "interceptor/shared_token.h"

namespace authrefresh {
namespace {

using internal::Mutex;
using internal::MutexLock;
using Options = SharedTokenRefresherOptions;

std::string DefaultOwnerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::random_device random;
  const uint64_t nonce = (static_cast<uint64_t>(random()) << 32) ^ random();
  return absl::StrCat(host[0] != '\0' ? host : "host", ":", getpid(), ":", absl::Hex(nonce));
}

// What the worker shares with the refresher and with the inner refresher's
// callbacks; outlives all of them.
class Shared : public std::enable_shared_from_this<Shared> {
 public:
  Shared(TokenRefresher* inner, std::shared_ptr<SharedTokenBackend> backend, Options options,
         std::shared_ptr<Clock> clock)
      : inner_(inner),
        clock_(clock),
        lease_ttl_(options.lease_ttl),
        wait_step_(options.wait_step),
        debug_log_(options.debug_log),
        protocol_(
            std::move(backend), std::move(options), std::move(clock), inner->NeedsRefreshToken(),
            [this](const GrantRequest& grant) { return RunInner(grant); },
            [this] { return queue.stopping(); },
            inner->dpop_key() != nullptr ? inner->dpop_key()->thumbprint() : std::string()) {}

  internal::GrantQueue queue{"shared token refresher"};

  // The worker: one refresh at a time; a record not yet written is retried
  // every wait_step without waiting for this replica's next refresh (the
  // others must not grant from the older record).
  void Work() {
    for (;;) {
      const absl::Time retry_at = protocol_.HasPending() ? clock_->Now() + wait_step_
                                                         : absl::InfiniteFuture();
      if (queue.Wait(*clock_, retry_at) == internal::GrantQueue::Woken::kStopping) {
        protocol_.FlushPendingWrite();  // a last try
        return;
      }
      std::optional<internal::GrantQueue::Job> job = queue.Take();
      if (!job) {
        protocol_.FlushPendingWrite();
        continue;
      }
      absl::StatusOr<Token> result = protocol_.Serve(job->request);
      job->done(std::move(result));  // no lock held; may call Refresh again
    }
  }

  // The refresher is going: a grant in flight is still awaited, for at most
  // lease_ttl (RunInner).
  void Stop() {
    MutexLock lock(&mu_);
    stopping_ = true;
    changed_.SignalAll();
  }

 private:
  // The inner refresher's grant, waited for. Destroying the refresher does
  // not abandon a grant in flight at once: the token service may already
  // have rotated the refresh token, so its answer is awaited (for at most
  // lease_ttl) and written.
  absl::StatusOr<Token> RunInner(const GrantRequest& grant) {
    uint64_t id;
    {
      MutexLock lock(&mu_);
      id = ++grant_id_;
      grant_result_.reset();
    }
    std::weak_ptr<Shared> weak = weak_from_this();
    inner_->Refresh(grant, [weak, id](absl::StatusOr<Token> r) {
      std::shared_ptr<Shared> self = weak.lock();
      if (self == nullptr) return;
      MutexLock lock(&self->mu_);
      if (self->grant_id_ == id) {
        self->grant_result_ = std::move(r);
        self->changed_.SignalAll();
      }
    });
    std::shared_ptr<Clock::Timer> timer;
    std::optional<absl::Time> stop_waiting;
    MutexLock lock(&mu_);
    while (!grant_result_.has_value()) {
      if (stopping_) {
        if (!stop_waiting) {
          stop_waiting = clock_->Now() + lease_ttl_;
          if (debug_log_) debug_log_("destroyed during a grant: waiting for it (at most lease_ttl)");
          timer = clock_->Schedule(*stop_waiting, [weak] {
            if (std::shared_ptr<Shared> self = weak.lock()) {
              MutexLock lock(&self->mu_);
              self->changed_.SignalAll();
            }
          });
        }
        if (clock_->Now() >= *stop_waiting) break;
      }
      mu_.Wait(&changed_);
    }
    if (timer != nullptr) timer->Cancel();
    if (!grant_result_.has_value()) {
      return absl::CancelledError("shared token refresher destroyed during the refresh");
    }
    absl::StatusOr<Token> result = std::move(*grant_result_);
    grant_result_.reset();
    return result;
  }

  TokenRefresher* const inner_;  // owned by the refresher; outlives the worker
  const std::shared_ptr<Clock> clock_;
  const absl::Duration lease_ttl_;
  const absl::Duration wait_step_;
  const std::function<void(absl::string_view)> debug_log_;
  internal::SharedProtocol protocol_;  // the worker's only

  Mutex mu_;
  absl::CondVar changed_;  // grant_result_ or stopping_ changed, or the timer fired
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The inner grant in flight: its id, and its result once it arrives.
  uint64_t grant_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::StatusOr<Token>> grant_result_ ABSL_GUARDED_BY(mu_);
};

class SharedTokenRefresher final : public TokenRefresher {
 public:
  SharedTokenRefresher(std::unique_ptr<TokenRefresher> inner,
                       std::shared_ptr<SharedTokenBackend> backend, Options options,
                       std::shared_ptr<Clock> clock)
      : inner_(std::move(inner)),
        shared_(std::make_shared<Shared>(inner_.get(), std::move(backend), std::move(options),
                                         std::move(clock))) {}

  ~SharedTokenRefresher() override {
    std::optional<internal::GrantQueue::Job> unserved = shared_->queue.Stop();
    shared_->Stop();
    worker_.Join();  // at most one backend call (bounded by its timeouts), or lease_ttl
    if (unserved) unserved->done(absl::CancelledError("shared token refresher destroyed"));
    // inner_ is destroyed last: its grant in flight, if any, is cancelled and
    // its callback finds nobody waiting.
  }

  bool NeedsRefreshToken() const override { return inner_->NeedsRefreshToken(); }

  std::shared_ptr<const DpopKey> dpop_key() const override { return inner_->dpop_key(); }

  void Refresh(const GrantRequest& request, Done done) override {
    shared_->queue.Submit(request, std::move(done));
    worker_.StartOnce([shared = shared_] { shared->Work(); });
  }

 private:
  const std::unique_ptr<TokenRefresher> inner_;
  const std::shared_ptr<Shared> shared_;
  internal::WorkerThread worker_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TokenRefresher>> MakeSharedTokenRefresher(
    std::unique_ptr<TokenRefresher> inner, std::shared_ptr<SharedTokenBackend> backend,
    SharedTokenRefresherOptions options) {
  if (inner == nullptr) {
    return absl::InvalidArgumentError("MakeSharedTokenRefresher: the inner refresher is null");
  }
  if (backend == nullptr) {
    return absl::InvalidArgumentError("MakeSharedTokenRefresher: the backend is null");
  }
  if (options.lease_ttl <= absl::ZeroDuration() || options.wait_step <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "SharedTokenRefresherOptions: lease_ttl and wait_step must be positive");
  }
  if (options.max_wait <= options.lease_ttl) {
    return absl::InvalidArgumentError(
        "SharedTokenRefresherOptions.max_wait must exceed lease_ttl, so that a dead "
        "holder's lease can run out while the others wait");
  }
  if (options.owner_id.empty()) options.owner_id = DefaultOwnerId();
  std::shared_ptr<Clock> clock = internal::ClockOrSystem(options.clock);
  return std::make_unique<SharedTokenRefresher>(std::move(inner), std::move(backend),
                                                std::move(options), std::move(clock));
}

}  // namespace authrefresh
