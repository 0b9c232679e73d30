#include "interceptor/internal/call_credentials_pool.h"

#include "grpc/support/string_util.h"

namespace authrefresh {
namespace internal {

CallCredentialsPool::CallCredentialsPool(grpc_security_level min_security_level,
                                         AttemptFn attempt)
    : min_security_level_(min_security_level), attempt_(attempt) {}

CallCredentialsPool::~CallCredentialsPool() {
  std::vector<Slot*> idle;
  {
    CallMutexLock lock(&mu_);
    idle.swap(idle_);
  }
  // The slot goes with its object (Destroy), when gRPC drops its last
  // reference too.
  for (Slot* slot : idle) grpc_call_credentials_release(slot->credentials_);
}

CallCredentialsPool::Slot* CallCredentialsPool::Take(void* call) {
  Slot* slot = nullptr;
  {
    CallMutexLock lock(&mu_);
    if (!idle_.empty()) {
      slot = idle_.back();
      idle_.pop_back();
    }
  }
  if (slot == nullptr) {
    slot = new Slot();
    slot->attempt_ = attempt_;
    grpc_metadata_credentials_plugin plugin;
    plugin.get_metadata = &CallCredentialsPool::GetMetadata;
    plugin.debug_string = nullptr;
    plugin.destroy = &CallCredentialsPool::Destroy;
    plugin.state = slot;
    plugin.type = "authrefresh";
    slot->credentials_ =
        grpc_metadata_credentials_create_from_plugin(plugin, min_security_level_, nullptr);
  }
  // Release: the attempt that reads it (acquire) may run on another thread.
  slot->call_.store(call, std::memory_order_release);
  return slot;
}

void CallCredentialsPool::GiveBack(Slot* slot) {
  slot->call_.store(nullptr, std::memory_order_release);
  {
    CallMutexLock lock(&mu_);
    if (idle_.size() < kMaxIdle) {
      idle_.push_back(slot);
      return;
    }
  }
  grpc_call_credentials_release(slot->credentials_);
}

int CallCredentialsPool::GetMetadata(
    void* state, grpc_auth_metadata_context context,
    grpc_credentials_plugin_metadata_cb cb, void* user_data,
    grpc_metadata creds_md[GRPC_METADATA_CREDENTIALS_PLUGIN_SYNC_MAX],
    size_t* num_creds_md, grpc_status_code* status, const char** error_details) {
  auto* slot = static_cast<Slot*>(state);
  void* call = slot->call_.load(std::memory_order_acquire);
  if (call == nullptr) {
    // A call that is over: gRPC starts no attempt for it. Nothing to add.
    *num_creds_md = 0;
    *status = GRPC_STATUS_CANCELLED;
    *error_details = gpr_strdup("authrefresh: the call is over");
    return 1;
  }
  return slot->attempt_(call, context, cb, user_data, creds_md, num_creds_md, status,
                        error_details);
}

void CallCredentialsPool::Destroy(void* state) { delete static_cast<Slot*>(state); }

}  // namespace internal
}  // namespace authrefresh
