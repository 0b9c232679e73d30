// interceptor/internal/openssl_error.h
//
// OpenSSL's reason for its last failure, for error messages.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_OPENSSL_ERROR_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_OPENSSL_ERROR_H_

#include <openssl/err.h>

#include <string>

namespace authrefresh {
namespace internal {

// OpenSSL's reason for the last failure (a fixed string such as "no start
// line"; never data), and the error queue cleared.
inline std::string OpenSslReason() {
  const unsigned long code = ERR_peek_last_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? reason : "unknown error";
}

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_OPENSSL_ERROR_H_
