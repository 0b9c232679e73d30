// interceptor/internal/redis_scripts.h
//
// The Lua scripts of the Redis backend (redis_backend.h). Every write is one
// script run with EVAL, so that a check and its write are atomic on the
// server.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REDIS_SCRIPTS_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REDIS_SCRIPTS_H_

namespace authrefresh {
namespace internal {

// KEYS[1] lease; ARGV owner, ttl in ms. Taking a free lease and renewing
// one's own are the same write, so both are one atomic script.
inline constexpr char kAcquireScript[] = R"lua(
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua";

// KEYS[1] lease; ARGV owner, channel. Compare-and-delete: a holder whose
// lease expired must not delete its successor's.
inline constexpr char kReleaseScript[] = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0
)lua";

// KEYS[1] record; ARGV expected generation, new generation, channel, then
// field/value pairs. The generation check is the fencing of shared_token.h.
// DEL first, so that no field of an older record survives.
inline constexpr char kCompareAndSwapScript[] = R"lua(
local stored = redis.call('HGET', KEYS[1], 'generation') or '0'
if stored ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
)lua";

// KEYS[1] record, KEYS[2] lease: what WaitForChange waits on, read at once.
inline constexpr char kObserveScript[] = R"lua(
return {redis.call('HGET', KEYS[1], 'generation') or '', redis.call('PTTL', KEYS[2])}
)lua";

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_REDIS_SCRIPTS_H_
