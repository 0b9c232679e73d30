// interceptor/redis_backend.h
//
// Defines `MakeRedisBackend()`: a SharedTokenBackend (shared_token.h) kept in
// one Redis server (hiredis, synchronous), so that replicas on many hosts
// share one token record and one refresh lease.
//
// What it stores, every key starting with `key_prefix`:
//   <prefix>record  a hash: generation, access_token, refresh_token,
//                   expires_at (unix milliseconds; 0 = never), issued_at
//                   (unix milliseconds; 0 = unknown), scope, and encryption
//                   ("aes-256-gcm") when the tokens are encrypted;
//   <prefix>lease   a string: the lease holder's owner id, with a PX expiry;
//   <prefix>events  a Pub/Sub channel: CompareAndSwap publishes the new
//                   generation and ReleaseLease "released" on it.
// Every write is one Lua script (EVAL), so that a check and its write are
// atomic on the server.
//
// WaitForChange listens on <prefix>events over a second connection,
// subscribed once and kept, and re-reads the record's generation and the
// lease's remaining time after every announcement; it also wakes when the
// lease's PTTL runs out (an expiry is not announced). So a change made before
// the subscription is never missed, and nothing polls. The wait's end (its
// timeout, the lease's PTTL) is kept on RedisBackendOptions::clock.
//
// Errors: Redis unreachable, a timeout or a lost connection is UNAVAILABLE
// (the message names the host:port or socket); the connection is dropped and
// the next call connects again. A refused AUTH, WRONGPASS, NOAUTH or NOPERM
// is PERMISSION_DENIED. A record this backend cannot decrypt, or one that is
// encrypted when encryption_key is empty (or in clear when it is set), is
// FAILED_PRECONDITION; a malformed record is INTERNAL naming the field.
// Messages never contain a token, a password or the encryption key.
//
// Thread safety: none. A backend is one connection used by one thread at a
// time, as SharedTokenBackend's contract has it (MakeSharedTokenRefresher
// calls it from its own thread only). Use one backend per thread otherwise.

#ifndef AUTHREFRESH_INTERCEPTOR_REDIS_BACKEND_H_
#define AUTHREFRESH_INTERCEPTOR_REDIS_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "interceptor/clock.h"
#include "interceptor/shared_token.h"

namespace authrefresh {

struct RedisBackendOptions {
  // Where Redis listens (TCP), unless `unix_socket` is set.
  std::string host = "127.0.0.1";
  int port = 6379;
  // A Unix domain socket path; when set, used instead of host and port.
  std::string unix_socket;
  // Redis 6+ ACL user (`AUTH user password`). Empty: `AUTH password` only,
  // and only if `password` is set.
  std::string user;
  std::string password;
  // Required, e.g. "authrefresh:orders:". Every key and the channel start
  // with it; replicas that share a credential use the same prefix.
  std::string key_prefix;
  // Empty: the tokens are stored in clear. Otherwise exactly 32 bytes: the
  // access and refresh tokens are stored AES-256-GCM encrypted (a fresh
  // random nonce per value, bound to the prefix, the field and the
  // generation). Expiry, scope and generation stay in clear.
  std::string encryption_key;
  // Bounds connecting (and AUTH), and each command's send and receive.
  absl::Duration connect_timeout = absl::Seconds(1);
  absl::Duration command_timeout = absl::Seconds(1);
  // The time WaitForChange waits on; null means SystemClock(). The two
  // timeouts above are socket timeouts, always in real time.
  std::shared_ptr<Clock> clock;
};

// Checks `options` (INVALID_ARGUMENT naming the option: empty key_prefix;
// without unix_socket, an empty host or a port outside 1..65535;
// encryption_key not 32 bytes; user without password; timeouts not positive
// and finite) and returns a backend. Does not connect: Redis need
// not be up; the first call connects.
absl::StatusOr<std::unique_ptr<SharedTokenBackend>> MakeRedisBackend(
    RedisBackendOptions options);

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_REDIS_BACKEND_H_
