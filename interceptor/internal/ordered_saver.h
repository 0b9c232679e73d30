// interceptor/internal/ordered_saver.h
//
// Defines `OrderedSaver`: hands a TokenManager's tokens to its TokenStore in
// generation order. A refresh completes on the refresher's thread and
// SetToken on the application's, so two saves can be asked for at once; a
// store must never see them overlap, nor an older token written over a
// newer one (with rotating refresh tokens that loses the session at the
// next restart).

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_ORDERED_SAVER_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_ORDERED_SAVER_H_

#include <cstdint>
#include <functional>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/token.h"

namespace authrefresh {
namespace internal {

class OrderedSaver {
 public:
  // `save` writes one token; it is the application's code (the store) and
  // runs with no lock held.
  explicit OrderedSaver(std::function<void(const Token&)> save) : save_(std::move(save)) {}
  OrderedSaver(const OrderedSaver&) = delete;
  OrderedSaver& operator=(const OrderedSaver&) = delete;

  // Saves `token`, of `generation`, unless a newer token was handed in
  // already, and returns once a token at least this new has been saved (or
  // its save failed: the store reports that itself). Saves run one at a
  // time on the calling threads: a thread that finds a save running leaves
  // its token to that thread and waits. A token is skipped when a newer one
  // arrived before its save started.
  void Save(uint64_t generation, const Token& token) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Next {
    uint64_t generation;
    Token token;
  };

  const std::function<void(const Token&)> save_;
  Mutex mu_;
  absl::CondVar saved_cv_;
  std::optional<Next> next_ ABSL_GUARDED_BY(mu_);  // the newest not yet saving
  uint64_t requested_generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t saved_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool saving_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_ORDERED_SAVER_H_
