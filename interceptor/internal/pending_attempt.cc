#include "interceptor/internal/pending_attempt.h"

#include <string>
#include <utility>

#include "grpc/slice.h"
#include "grpc/support/string_util.h"

namespace authrefresh {
namespace internal {
namespace {

constexpr char kAuthorization[] = "authorization";
constexpr char kDpop[] = "dpop";

// The `authorization` value of `s` as a slice that core takes a reference
// to: each thread keeps the one of the token it last attached, so that an
// attempt costs a reference count, not a copy.
grpc_slice HeaderSlice(const TokenSnapshot& s) {
  struct Cached {
    uint64_t snapshot_id = 0;
    grpc_slice slice = grpc_empty_slice();
    ~Cached() { grpc_slice_unref(slice); }
  };
  static thread_local Cached cached;
  if (cached.snapshot_id != s.id) {
    grpc_slice_unref(cached.slice);
    cached.slice = grpc_slice_from_copied_buffer(s.authorization.data(), s.authorization.size());
    cached.snapshot_id = s.id;
  }
  return grpc_slice_ref(cached.slice);
}

grpc_status_code CoreCode(const absl::Status& s) { return static_cast<grpc_status_code>(s.code()); }

}  // namespace

void AttachNow(const TokenSnapshot& s, grpc_metadata* creds_md, size_t* num_creds_md) {
  creds_md[0].key = grpc_slice_from_static_string(kAuthorization);
  creds_md[0].value = HeaderSlice(s);
  *num_creds_md = 1;
}

void AttachWithProof(const TokenSnapshot& s, const DpopTarget& target, grpc_metadata* creds_md,
                     size_t* num_creds_md, grpc_status_code* status, const char** error_details) {
  absl::StatusOr<std::string> proof = CallProof(s, target);
  if (!proof.ok()) {
    *status = GRPC_STATUS_INTERNAL;
    *error_details = gpr_strdup(std::string(proof.status().message()).c_str());
    return;
  }
  creds_md[0].key = grpc_slice_from_static_string(kAuthorization);
  creds_md[0].value = HeaderSlice(s);
  creds_md[1].key = grpc_slice_from_static_string(kDpop);
  creds_md[1].value = grpc_slice_from_copied_buffer(proof->data(), proof->size());
  *num_creds_md = 2;
}

void AttachToken(const TokenSnapshot& s, const DpopTarget* dpop, grpc_metadata* creds_md,
                 size_t* num_creds_md, grpc_status_code* status, const char** error_details) {
  if (s.dpop_key != nullptr && dpop != nullptr) {
    AttachWithProof(s, *dpop, creds_md, num_creds_md, status, error_details);
  } else {
    AttachNow(s, creds_md, num_creds_md);
  }
}

void AnswerNow(const absl::StatusOr<Snapshot>& result, grpc_metadata* creds_md,
               size_t* num_creds_md, grpc_status_code* status, const char** error_details,
               const DpopTarget* dpop) {
  if (result.ok() && (*result)->dpop_key != nullptr) {
    if (dpop == nullptr) {
      *status = GRPC_STATUS_INTERNAL;
      *error_details = gpr_strdup("authrefresh: a DPoP-bound token without the call's target");
      return;
    }
    AttachWithProof(**result, *dpop, creds_md, num_creds_md, status, error_details);
    return;
  }
  if (result.ok()) {
    AttachNow(**result, creds_md, num_creds_md);
    return;
  }
  *status = CoreCode(result.status());
  *error_details = gpr_strdup(std::string(result.status().message()).c_str());
}

void AnswerLater(grpc_credentials_plugin_metadata_cb cb, void* user_data,
                 const absl::StatusOr<Snapshot>& result, const DpopTarget* dpop) {
  if (result.ok() && (*result)->dpop_key != nullptr) {
    absl::StatusOr<std::string> proof =
        dpop != nullptr ? CallProof(**result, *dpop)
                        : absl::InternalError("a DPoP-bound token without the call's target");
    if (!proof.ok()) {
      const std::string message(proof.status().message());
      cb(user_data, nullptr, 0, GRPC_STATUS_INTERNAL, message.c_str());
      return;
    }
    const std::string& header = (*result)->authorization;
    grpc_metadata md[2];
    md[0].key = grpc_slice_from_static_string(kAuthorization);
    md[0].value = grpc_slice_from_copied_buffer(header.data(), header.size());
    md[1].key = grpc_slice_from_static_string(kDpop);
    md[1].value = grpc_slice_from_copied_buffer(proof->data(), proof->size());
    cb(user_data, md, 2, GRPC_STATUS_OK, nullptr);
    grpc_slice_unref(md[0].value);
    grpc_slice_unref(md[1].value);
    return;
  }
  if (result.ok()) {
    const std::string& header = (*result)->authorization;
    grpc_metadata md;
    md.key = grpc_slice_from_static_string(kAuthorization);
    md.value = grpc_slice_from_copied_buffer(header.data(), header.size());
    cb(user_data, &md, 1, GRPC_STATUS_OK, nullptr);
    grpc_slice_unref(md.value);
    return;
  }
  const std::string message(result.status().message());
  cb(user_data, nullptr, 0, CoreCode(result.status()), message.c_str());
}

void PendingAttempt::Complete(absl::StatusOr<Snapshot> result) {
  {
    CallMutexLock lock(&mu_);
    if (state_ == State::kDone) return;
    Record(result);
    if (state_ == State::kInline) {
      inline_result_ = std::move(result);
      state_ = State::kDone;
      return;
    }
    state_ = State::kDone;
  }
  AnswerLater(cb_, user_data_, result, dpop_.get());
}

std::optional<absl::StatusOr<Snapshot>> PendingAttempt::Detach(uint64_t ticket) {
  CallMutexLock lock(&mu_);
  if (inline_result_) return std::move(inline_result_);
  state_ = State::kWaiting;
  ticket_ = ticket;
  return std::nullopt;
}

void PendingAttempt::CompleteInline(const absl::StatusOr<Snapshot>& result) {
  CallMutexLock lock(&mu_);
  Record(result);
  state_ = State::kDone;
}

uint64_t PendingAttempt::WaitingTicket() {
  CallMutexLock lock(&mu_);
  return state_ == State::kWaiting ? ticket_ : 0;
}

bool PendingAttempt::Ended(uint64_t* generation, absl::Status* failure) {
  CallMutexLock lock(&mu_);
  if (state_ != State::kDone) return false;
  *generation = generation_;
  *failure = failure_;
  return true;
}

void PendingAttempt::Record(const absl::StatusOr<Snapshot>& result) {
  if (result.ok()) {
    generation_ = (*result)->generation;
  } else {
    failure_ = result.status();
  }
}

}  // namespace internal
}  // namespace authrefresh
