#include "interceptor/internal/interceptor_config.h"

#include <utility>

#include "interceptor/clock.h"

namespace authrefresh {
namespace internal {
namespace {

thread_local bool creating_own_call = false;

}  // namespace

bool CreatingOwnCall() { return creating_own_call; }

OwnCallScope::OwnCallScope() : outer_(creating_own_call) {
  creating_own_call = true;
}

OwnCallScope::~OwnCallScope() { creating_own_call = outer_; }

void RunSoon(std::function<void()> fn) {
  SystemClock()->Schedule(absl::InfinitePast(), std::move(fn));
}

}  // namespace internal
}  // namespace authrefresh
