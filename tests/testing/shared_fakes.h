// Fakes for the shared-token protocol: an in-memory SharedTokenBackend that
// several refreshers (replicas) in one test share, and a token service with
// rotating refresh tokens and reuse detection that they all grant against.
// Both are thread-safe and keep exact counts.

#ifndef AUTHREFRESH_TESTS_TESTING_SHARED_FAKES_H_
#define AUTHREFRESH_TESTS_TESTING_SHARED_FAKES_H_

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "interceptor/clock.h"
#include "interceptor/shared_token.h"

namespace authrefresh {
namespace testing {

class FakeSharedBackend final : public SharedTokenBackend {
 public:
  // Lease expiry and WaitForChange's timeout on `clock` (a test's fake
  // clock); null: real time.
  explicit FakeSharedBackend(std::shared_ptr<Clock> clock = nullptr) : clock_(std::move(clock)) {}

  absl::StatusOr<SharedRecord> Read() override {
    absl::MutexLock lock(&mu_);
    if (!error_.ok()) return error_;
    if (unreachable_) return Unreachable();
    return record_;
  }
  absl::StatusOr<bool> TryAcquireLease(const std::string& owner, absl::Duration ttl) override {
    std::function<void()> hook;
    {
      absl::MutexLock lock(&mu_);
      hook = std::move(before_lease_);
      before_lease_ = nullptr;
    }
    if (hook) hook();  // another replica finishes a refresh right now
    absl::MutexLock lock(&mu_);
    if (unreachable_ || lease_unreachable_) return Unreachable();
    const absl::Time now = Now();
    if (!owner_.empty() && owner_ != owner && now < lease_until_) return false;
    owner_ = owner;
    lease_until_ = now + ttl;
    return true;
  }
  absl::StatusOr<bool> CompareAndSwap(uint64_t expected, const SharedRecord& r) override {
    absl::MutexLock lock(&mu_);
    if (unreachable_ || writes_fail_) {
      ++failed_writes_;
      return Unreachable();
    }
    if (record_.generation != expected) {
      ++refused_writes_;
      return false;
    }
    record_ = r;
    ++writes_;
    return true;
  }
  absl::Status ReleaseLease(const std::string& owner) override {
    absl::MutexLock lock(&mu_);
    if (unreachable_) return Unreachable();
    if (owner_ == owner) owner_.clear();
    return absl::OkStatus();
  }
  absl::Status WaitForChange(uint64_t generation, absl::Duration timeout) override {
    std::shared_ptr<Clock::Timer> timer;
    uint64_t wait_id = 0;
    {
      absl::MutexLock lock(&mu_);
      if (unreachable_) return Unreachable();
      wait_id = ++waits_started_;
    }
    if (clock_ != nullptr) {
      timer = clock_->Schedule(clock_->Now() + timeout, [this, wait_id] {
        absl::MutexLock lock(&mu_);
        timed_out_ = std::max(timed_out_, wait_id);
      });
    }
    {
      absl::MutexLock lock(&mu_);
      ++waits_;
      auto changed = [this, generation, wait_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return record_.generation != generation || owner_.empty() || unreachable_ ||
               timed_out_ >= wait_id || (clock_ != nullptr && Now() >= lease_until_);
      };
      if (clock_ != nullptr) {
        mu_.Await(absl::Condition(&changed));
      } else {
        mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
      }
      --waits_;
    }
    if (timer != nullptr) timer->Cancel();
    return absl::OkStatus();
  }

  // Runs once, at the start of the next TryAcquireLease, without the lock.
  void BeforeNextLease(std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    before_lease_ = std::move(hook);
  }
  // Another process holds the lease until `until` (and never releases it:
  // it died, or is stopped).
  void HoldLease(const std::string& owner, absl::Time until) {
    absl::MutexLock lock(&mu_);
    owner_ = owner;
    lease_until_ = until;
  }
  // Every CompareAndSwap fails UNAVAILABLE while set; the rest works.
  void SetWritesFail(bool fail) {
    absl::MutexLock lock(&mu_);
    writes_fail_ = fail;
  }
  int failed_writes() {
    absl::MutexLock lock(&mu_);
    return failed_writes_;
  }
  void SetUnreachable(bool unreachable) {
    absl::MutexLock lock(&mu_);
    unreachable_ = unreachable;
  }
  // TryAcquireLease fails UNAVAILABLE while Read still answers (a Redis
  // that refuses writes, say).
  void SetLeaseUnreachable(bool unreachable) {
    absl::MutexLock lock(&mu_);
    lease_unreachable_ = unreachable;
  }
  // Every Read fails with `error` (a refused password, say); OK: none does.
  void SetError(absl::Status error) {
    absl::MutexLock lock(&mu_);
    error_ = std::move(error);
  }
  SharedRecord record() {
    absl::MutexLock lock(&mu_);
    return record_;
  }
  // Loses everything: the record and the lease.
  void Reset() {
    absl::MutexLock lock(&mu_);
    record_ = SharedRecord{};
    owner_.clear();
  }
  void AwaitGeneration(uint64_t generation) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return record_.generation >= generation;
    };
    mu_.Await(absl::Condition(&reached));
  }
  int writes() {
    absl::MutexLock lock(&mu_);
    return writes_;
  }
  int refused_writes() {
    absl::MutexLock lock(&mu_);
    return refused_writes_;
  }
  // Replicas blocked in WaitForChange right now.
  int waiting() {
    absl::MutexLock lock(&mu_);
    return waits_;
  }
  void AwaitWaiting(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return waits_ >= n; };
    mu_.Await(absl::Condition(&enough));
  }

 private:
  static absl::Status Unreachable() {
    return absl::UnavailableError("fake backend: connection refused");
  }
  absl::Time Now() const { return clock_ != nullptr ? clock_->Now() : absl::Now(); }

  const std::shared_ptr<Clock> clock_;
  absl::Mutex mu_;
  SharedRecord record_ ABSL_GUARDED_BY(mu_);
  std::string owner_ ABSL_GUARDED_BY(mu_);
  absl::Time lease_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  bool unreachable_ ABSL_GUARDED_BY(mu_) = false;
  bool lease_unreachable_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_fail_ ABSL_GUARDED_BY(mu_) = false;
  int failed_writes_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> before_lease_ ABSL_GUARDED_BY(mu_);
  int writes_ ABSL_GUARDED_BY(mu_) = 0;
  int refused_writes_ ABSL_GUARDED_BY(mu_) = 0;
  int waits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t waits_started_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t timed_out_ ABSL_GUARDED_BY(mu_) = 0;  // the newest wait whose timer fired
};

// A token service with rotating refresh tokens and reuse detection (RFC
// 9700): each grant with the live refresh token rotates it; presenting a
// rotated-out one is counted as reuse and refused with invalid_grant. With
// `needs_refresh_token` false it issues tokens like client credentials. A
// gate holds grants until the test opens it.
class RotatingTokenService {
 public:
  // Tokens are "<prefix>at-N" and "<prefix>rt-N".
  explicit RotatingTokenService(std::string prefix = "", std::string initial_refresh_token = "rt-0")
      : prefix_(std::move(prefix)), live_refresh_token_(std::move(initial_refresh_token)) {}

  class Refresher final : public TokenRefresher {
   public:
    Refresher(std::shared_ptr<RotatingTokenService> service, bool needs_refresh_token)
        : service_(std::move(service)), needs_refresh_token_(needs_refresh_token) {}
    void Refresh(const GrantRequest& request, Done done) override {
      done(service_->Grant(request.refresh_token, needs_refresh_token_));
    }
    bool NeedsRefreshToken() const override { return needs_refresh_token_; }

   private:
    const std::shared_ptr<RotatingTokenService> service_;
    const bool needs_refresh_token_;
  };

  // Issue times come from `clock` when set (a test's fake clock), else
  // absl::Now(). Set before the first grant.
  void SetClock(std::shared_ptr<Clock> clock) { clock_ = std::move(clock); }

  absl::StatusOr<Token> Grant(const std::string& refresh_token, bool with_refresh_token) {
    const absl::Time now = clock_ != nullptr ? clock_->Now() : absl::Now();
    absl::MutexLock lock(&mu_);
    ++in_grant_;
    mu_.Await(absl::Condition(&open_));
    --in_grant_;
    if (with_refresh_token) {
      if (refresh_token != live_refresh_token_) {
        if (rotated_out_.count(refresh_token) > 0) ++reuse_;
        ++refused_;
        return absl::UnauthenticatedError("invalid_grant: refresh token not live");
      }
      rotated_out_.insert(live_refresh_token_);
      live_refresh_token_ = absl::StrCat(prefix_, "rt-", ++grants_);
    } else {
      ++grants_;
    }
    Token t;
    t.access_token = absl::StrCat(prefix_, "at-", grants_);
    if (with_refresh_token) t.refresh_token = live_refresh_token_;
    t.issued_at = now;
    t.expires_at = now + absl::Seconds(lifetime_seconds_);
    return t;
  }

  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  void AwaitInGrant(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_grant_ >= n; };
    mu_.Await(absl::Condition(&enough));
  }
  int grants() {
    absl::MutexLock lock(&mu_);
    return grants_;
  }
  int reuse() {
    absl::MutexLock lock(&mu_);
    return reuse_;
  }
  int refused() {
    absl::MutexLock lock(&mu_);
    return refused_;
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  int in_grant_ ABSL_GUARDED_BY(mu_) = 0;
  int grants_ ABSL_GUARDED_BY(mu_) = 0;
  int reuse_ ABSL_GUARDED_BY(mu_) = 0;
  int refused_ ABSL_GUARDED_BY(mu_) = 0;
  const std::string prefix_;
  const int lifetime_seconds_ = 3600;
  std::shared_ptr<Clock> clock_;
  std::string live_refresh_token_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> rotated_out_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_SHARED_FAKES_H_
