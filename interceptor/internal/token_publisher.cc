#include "interceptor/internal/token_publisher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "interceptor/internal/jws.h"

namespace authrefresh {
namespace internal {
namespace {

std::atomic<uint64_t> next_publisher_id{1};
std::atomic<uint64_t> next_snapshot_id{1};

}  // namespace

TokenPublisher::TokenPublisher(std::shared_ptr<const DpopKey> dpop_key)
    : id_(next_publisher_id.fetch_add(1, std::memory_order_relaxed)),
      dpop_key_(std::move(dpop_key)),
      dpop_jkt_(dpop_key_ != nullptr ? dpop_key_->thumbprint() : std::string()) {}

TokenPublisher::Snapshot TokenPublisher::Publish(uint64_t generation, Token token,
                                                 absl::Status terminal,
                                                 absl::Time refresh_after) {
  auto s = std::make_shared<TokenSnapshot>();
  s->id = next_snapshot_id.fetch_add(1, std::memory_order_relaxed);
  if (token.access_token.empty()) {
    // No token yet.
  } else if (token.dpop_jkt.empty()) {
    s->authorization = absl::StrCat("Bearer ", token.access_token);
  } else if (dpop_key_ != nullptr && dpop_jkt_ == token.dpop_jkt) {
    s->authorization = absl::StrCat("DPoP ", token.access_token);
    s->dpop_key = dpop_key_;
    s->dpop_ath = Sha256Base64Url(token.access_token);
  }  // else bound to another key: not sendable (UsableWithKey keeps it out)
  s->token = std::move(token);
  s->terminal = std::move(terminal);
  s->refresh_after = refresh_after;
  s->generation = generation;
  CallMutexLock lock(&mu_);
  current_ = s;
  version_.fetch_add(1, std::memory_order_release);
  return s;
}

const TokenSnapshot& TokenPublisher::Current() {
  struct Cache {
    uint64_t owner = 0;
    uint64_t version = 0;
    Snapshot snapshot;
  };
  static thread_local Cache cache;
  const uint64_t version = version_.load(std::memory_order_acquire);
  if (cache.owner != id_ || cache.version != version) {
    CallMutexLock lock(&mu_);
    cache.snapshot = current_;
    cache.version = version_.load(std::memory_order_relaxed);
    cache.owner = id_;
  }
  return *cache.snapshot;
}

TokenPublisher::Snapshot TokenPublisher::Latest() const {
  CallMutexLock lock(&mu_);
  return current_;
}

void TokenPublisher::NoteAccepted(uint64_t generation) {
  uint64_t seen = accepted_.load(std::memory_order_relaxed);
  while (seen < generation &&
         !accepted_.compare_exchange_weak(seen, generation, std::memory_order_release,
                                          std::memory_order_relaxed)) {
  }
}

}  // namespace internal
}  // namespace authrefresh
