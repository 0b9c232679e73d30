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

namespace {

// `s`'s token as the metadata of an answer, with its proof when it is
// DPoP-bound; the caller owns a reference to each slice. INTERNAL, with
// nothing filled in, when the proof cannot be made.
absl::Status TokenMetadata(const TokenSnapshot& s, const DpopTarget* dpop, grpc_metadata* md,
                           size_t* n) {
  AttachNow(s, md, n);
  if (s.dpop_key == nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> proof =
      dpop != nullptr
          ? CallProof(s, *dpop)
          : absl::InternalError("authrefresh: a DPoP-bound token without the call's target");
  if (!proof.ok()) {
    grpc_slice_unref(md[0].value);
    *n = 0;
    return proof.status();
  }
  md[1].key = grpc_slice_from_static_string(kDpop);
  md[1].value = grpc_slice_from_copied_buffer(proof->data(), proof->size());
  *n = 2;
  return absl::OkStatus();
}

}  // namespace

void AttachToken(const TokenSnapshot& s, const DpopTarget* dpop, grpc_metadata* creds_md,
                 size_t* num_creds_md, grpc_status_code* status, const char** error_details) {
  const absl::Status made = TokenMetadata(s, dpop, creds_md, num_creds_md);
  if (!made.ok()) {
    *status = CoreCode(made);
    *error_details = gpr_strdup(std::string(made.message()).c_str());
  }
}

void AnswerNow(const absl::StatusOr<Snapshot>& result, grpc_metadata* creds_md,
               size_t* num_creds_md, grpc_status_code* status, const char** error_details,
               const DpopTarget* dpop) {
  if (result.ok()) {
    AttachToken(**result, dpop, creds_md, num_creds_md, status, error_details);
    return;
  }
  *status = CoreCode(result.status());
  *error_details = gpr_strdup(std::string(result.status().message()).c_str());
}

void AnswerLater(grpc_credentials_plugin_metadata_cb cb, void* user_data,
                 const absl::StatusOr<Snapshot>& result, const DpopTarget* dpop) {
  grpc_metadata md[2];
  size_t n = 0;
  const absl::Status made = result.ok() ? TokenMetadata(**result, dpop, md, &n) : result.status();
  if (!made.ok()) {
    const std::string message(made.message());
    cb(user_data, nullptr, 0, CoreCode(made), message.c_str());
    return;
  }
  cb(user_data, md, n, GRPC_STATUS_OK, nullptr);
  for (size_t i = 0; i < n; ++i) grpc_slice_unref(md[i].value);
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
