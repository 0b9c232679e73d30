#include "interceptor/internal/ordered_saver.h"

#include <utility>

namespace authrefresh {
namespace internal {

void OrderedSaver::Save(uint64_t generation, const Token& token) {
  mu_.Lock();
  if (generation > requested_generation_) {
    requested_generation_ = generation;
    next_ = Next{generation, token};
  }
  // Else a newer token was asked for already: it is saved instead.
  if (saving_) {
    // The thread saving now saves the newest token next.
    while (saved_generation_ < generation) mu_.Wait(&saved_cv_);
    mu_.Unlock();
    return;
  }
  saving_ = true;
  while (next_.has_value()) {
    Next next = *std::move(next_);
    next_.reset();
    mu_.Unlock();
    save_(next.token);
    mu_.Lock();
    saved_generation_ = next.generation;
    saved_cv_.SignalAll();
  }
  saving_ = false;
  mu_.Unlock();
}

}  // namespace internal
}  // namespace authrefresh
