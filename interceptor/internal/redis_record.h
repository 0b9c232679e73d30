// interceptor/internal/redis_record.h
//
// The shared record as the Redis backend stores it (redis_backend.h): one
// hash of string fields, the tokens optionally AES-256-GCM encrypted. No
// I/O: the backend sends and reads what this encodes and decodes.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REDIS_RECORD_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REDIS_RECORD_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "interceptor/shared_token.h"

namespace authrefresh {
namespace internal {

class RedisRecordCodec {
 public:
  // `encryption_key` empty: tokens in clear; else 32 bytes. `key_prefix`
  // binds each ciphertext to the record it belongs to.
  RedisRecordCodec(std::string key_prefix, std::string encryption_key);

  // The hash fields of `record`, in HSET order: access_token, refresh_token
  // (sealed when encrypting, each under its own field name and generation),
  // generation, expires_at, issued_at (unix milliseconds; 0: never /
  // unknown), scope, and encryption ("aes-256-gcm") when encrypting.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Encode(
      const SharedRecord& record) const;

  // The record a hash holds; generation 0 for an empty hash. INTERNAL naming
  // the field when one is missing or malformed; FAILED_PRECONDITION when the
  // tokens cannot be decrypted (another key, or encrypted vs. clear).
  absl::StatusOr<SharedRecord> Decode(
      const absl::flat_hash_map<absl::string_view, absl::string_view>& fields) const;

 private:
  const std::string key_prefix_;
  const std::string encryption_key_;
};

// A generation as CompareAndSwap writes it: decimal digits, no sign, no
// leading zero (the Lua script compares generations as strings).
absl::StatusOr<uint64_t> ParseRedisGeneration(absl::string_view text);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_REDIS_RECORD_H_
