#include "interceptor/redis_backend.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace authrefresh {
namespace {

// The record's fields (redis_backend.h).
constexpr absl::string_view kGeneration = "generation";
constexpr absl::string_view kAccessToken = "access_token";
constexpr absl::string_view kRefreshToken = "refresh_token";
constexpr absl::string_view kExpiresAt = "expires_at";
constexpr absl::string_view kScope = "scope";
constexpr absl::string_view kEncryption = "encryption";
constexpr absl::string_view kCipherName = "aes-256-gcm";

// KEYS[1] lease; ARGV owner, ttl in ms. Taking a free lease and renewing
// one's own are the same write, so both are one atomic script.
constexpr char kAcquireScript[] = R"lua(
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua";

// KEYS[1] lease; ARGV owner, channel. Compare-and-delete: a holder whose
// lease expired must not delete its successor's.
constexpr char kReleaseScript[] = R"lua(
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
constexpr char kCompareAndSwapScript[] = R"lua(
local stored = redis.call('HGET', KEYS[1], 'generation') or '0'
if stored ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
)lua";

// KEYS[1] record, KEYS[2] lease: what WaitForChange waits on, read at once.
constexpr char kObserveScript[] = R"lua(
return {redis.call('HGET', KEYS[1], 'generation') or '', redis.call('PTTL', KEYS[2])}
)lua";

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

// hiredis writes with write(2): a connection the server closed would raise
// SIGPIPE and kill the process. Blocks it on this thread for the duration
// of one exchange and discards one it raised, leaving the process's signal
// handling as the application set it.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    changed_mask_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0 &&
                    sigismember(&old_, SIGPIPE) != 1;
  }
  ~SigpipeBlocked() {
    if (!changed_mask_) return;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool changed_mask_ = false;
};

// The additional data a token's ciphertext is bound to: it does not decrypt
// under another prefix, in another field or in another generation.
std::string AssociatedData(absl::string_view prefix, absl::string_view field,
                           uint64_t generation) {
  return absl::StrCat(prefix, std::string(1, '\0'), field, std::string(1, '\0'),
                      generation);
}

constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// base64(nonce || ciphertext || tag), AES-256-GCM with a fresh random nonce.
absl::StatusOr<std::string> Seal(const std::string& key, absl::string_view aad,
                                 absl::string_view plaintext) {
  unsigned char nonce[kNonceBytes];
  if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
    return absl::InternalError("RAND_bytes failed to make a nonce");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(&out[0]);
  std::copy(nonce, nonce + kNonceBytes, bytes);
  int len = 0;
  int tail = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), bytes + kNonceBytes, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), bytes + kNonceBytes + len, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          bytes + kNonceBytes + plaintext.size()) != 1) {
    return absl::InternalError("AES-256-GCM encryption of the shared token record failed");
  }
  return absl::Base64Escape(out);
}

absl::Status CannotDecrypt() {
  return absl::FailedPreconditionError(
      "cannot decrypt the shared token record (wrong encryption_key?)");
}

absl::StatusOr<std::string> Open(const std::string& key, absl::string_view aad,
                                 absl::string_view stored) {
  std::string raw;
  if (!absl::Base64Unescape(stored, &raw) || raw.size() < kNonceBytes + kTagBytes) {
    return CannotDecrypt();
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  const size_t size = raw.size() - kNonceBytes - kTagBytes;
  std::string plaintext(size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(&plaintext[0]);
  // The tag is an input of EVP_CTRL_GCM_SET_TAG, which takes a non-const pointer.
  std::string tag = raw.substr(kNonceBytes + size);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int tail = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()), bytes) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out, &len, bytes + kNonceBytes, static_cast<int>(size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, &tag[0]) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out + len, &tail) != 1) {
    return CannotDecrypt();
  }
  return plaintext;
}

absl::Status MalformedField(absl::string_view field, absl::string_view why) {
  return absl::InternalError(
      absl::StrCat("the shared token record's field '", field, "' ", why));
}

// A generation as CompareAndSwap writes it: decimal digits, no sign, no
// leading zero (the script compares generations as strings).
absl::StatusOr<uint64_t> ParseGeneration(absl::string_view text) {
  uint64_t value = 0;
  if (text.empty() || (text.size() > 1 && text[0] == '0') ||
      !std::all_of(text.begin(), text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(text, &value)) {
    return MalformedField(kGeneration, "is not a generation number");
  }
  return value;
}

absl::StatusOr<absl::Time> ParseExpiresAt(absl::string_view text) {
  absl::string_view digits = text;
  if (!digits.empty() && digits[0] == '-') digits.remove_prefix(1);
  int64_t millis = 0;
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(text, &millis)) {
    return MalformedField(kExpiresAt, "is not unix milliseconds");
  }
  return millis == 0 ? absl::InfiniteFuture() : absl::FromUnixMillis(millis);
}

std::string FormatExpiresAt(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "0";
  const int64_t millis = absl::ToUnixMillis(t);
  // 0 means "never"; a token that expired at the epoch is just as expired
  // a millisecond earlier.
  return absl::StrCat(millis == 0 ? -1 : millis);
}

// Only the error's code word ("WRONGTYPE", "ERR", ...) goes into a status:
// Redis's text may quote what was sent.
std::string ErrorCode(absl::string_view error) {
  size_t n = 0;
  while (n < error.size() && n < 32 && (absl::ascii_isupper(error[n]) || error[n] == '_')) ++n;
  return n == 0 ? "ERR" : std::string(error.substr(0, n));
}

class RedisBackend final : public SharedTokenBackend {
 public:
  explicit RedisBackend(RedisBackendOptions options)
      : options_(std::move(options)),
        where_(options_.unix_socket.empty()
                   ? absl::StrCat("Redis at ", options_.host, ":", options_.port)
                   : absl::StrCat("Redis at unix socket ", options_.unix_socket)),
        record_key_(absl::StrCat(options_.key_prefix, "record")),
        lease_key_(absl::StrCat(options_.key_prefix, "lease")),
        channel_(absl::StrCat(options_.key_prefix, "events")) {}

  absl::StatusOr<SharedRecord> Read() override {
    absl::StatusOr<Reply> reply = Run({"HGETALL", record_key_}, "HGETALL");
    if (!reply.ok()) return reply.status();
    const redisReply& r = **reply;
    if (r.type != REDIS_REPLY_ARRAY || r.elements % 2 != 0) {
      return Unexpected("HGETALL");
    }
    absl::flat_hash_map<absl::string_view, absl::string_view> fields;
    for (size_t i = 0; i < r.elements; i += 2) {
      const redisReply* name = r.element[i];
      const redisReply* value = r.element[i + 1];
      if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING) {
        return Unexpected("HGETALL");
      }
      fields[absl::string_view(name->str, name->len)] =
          absl::string_view(value->str, value->len);
    }
    return ParseRecord(fields);
  }

  absl::StatusOr<bool> TryAcquireLease(const std::string& owner, absl::Duration ttl) override {
    if (owner.empty()) return absl::InvalidArgumentError("TryAcquireLease: owner is empty");
    if (ttl <= absl::ZeroDuration() || ttl == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError("TryAcquireLease: ttl must be positive and finite");
    }
    const int64_t millis = std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(ttl, absl::Milliseconds(1))));
    return RunScript(kAcquireScript, {lease_key_}, {owner, absl::StrCat(millis)},
                     "TryAcquireLease");
  }

  absl::StatusOr<bool> CompareAndSwap(uint64_t expected_generation,
                                      const SharedRecord& record) override {
    if (record.generation != expected_generation + 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CompareAndSwap: the record's generation must be expected_generation + 1 (",
          expected_generation + 1, "), not ", record.generation));
    }
    std::vector<std::string> args = {absl::StrCat(expected_generation),
                                     absl::StrCat(record.generation), channel_};
    for (const auto& [field, value] :
         {std::pair<absl::string_view, const std::string*>{kAccessToken,
                                                            &record.token.access_token},
          {kRefreshToken, &record.token.refresh_token}}) {
      absl::StatusOr<std::string> stored = StoredToken(field, record.generation, *value);
      if (!stored.ok()) return stored.status();
      args.insert(args.end(), {std::string(field), *std::move(stored)});
    }
    args.insert(args.end(),
                {std::string(kGeneration), absl::StrCat(record.generation),
                 std::string(kExpiresAt), FormatExpiresAt(record.token.expires_at),
                 std::string(kScope), record.token.scope});
    if (!options_.encryption_key.empty()) {
      args.insert(args.end(), {std::string(kEncryption), std::string(kCipherName)});
    }
    return RunScript(kCompareAndSwapScript, {record_key_}, std::move(args), "CompareAndSwap",
                     /*may_repeat=*/false);
  }

  absl::Status ReleaseLease(const std::string& owner) override {
    return RunScript(kReleaseScript, {lease_key_}, {owner, channel_}, "ReleaseLease").status();
  }

  absl::Status WaitForChange(uint64_t generation, absl::Duration timeout) override {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      // Subscribed before each look at the record: whatever changes after
      // the look is announced on the subscription.
      if (subscriber_ == nullptr) {
        absl::Status subscribed = Subscribe();
        if (!subscribed.ok()) return subscribed;
      }
      absl::StatusOr<Reply> reply =
          Run({"EVAL", kObserveScript, "2", record_key_, lease_key_}, "WaitForChange");
      if (!reply.ok()) return reply.status();
      // Run() reconnected and dropped the subscription: look again once
      // subscribed anew.
      if (subscriber_ == nullptr) continue;
      const redisReply& r = **reply;
      if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 ||
          r.element[0]->type != REDIS_REPLY_STRING ||
          r.element[1]->type != REDIS_REPLY_INTEGER) {
        return Unexpected("WaitForChange");
      }
      const absl::string_view stored(r.element[0]->str, r.element[0]->len);
      uint64_t current = 0;
      if (!stored.empty()) {
        absl::StatusOr<uint64_t> parsed = ParseGeneration(stored);
        if (!parsed.ok()) return parsed.status();
        current = *parsed;
      }
      // PTTL: -2 no lease, -1 a lease without expiry (not one of ours, but
      // held all the same), else milliseconds left.
      const long long lease_left_ms = r.element[1]->integer;
      if (current != generation || lease_left_ms == -2) return absl::OkStatus();
      const absl::Time now = absl::Now();
      if (now >= deadline) return absl::OkStatus();
      absl::Time wake = deadline;
      if (lease_left_ms >= 0) {
        // An expiry is not announced: look again when it is due.
        wake = std::min(wake, now + absl::Milliseconds(lease_left_ms + 1));
      }
      absl::Status heard = AwaitAnnouncement(wake);
      if (!heard.ok()) return heard;
    }
  }

 private:
  absl::StatusOr<SharedRecord> ParseRecord(
      const absl::flat_hash_map<absl::string_view, absl::string_view>& fields) {
    SharedRecord record;
    if (fields.empty()) return record;
    auto field = [&fields](absl::string_view name) -> std::optional<absl::string_view> {
      auto it = fields.find(name);
      if (it == fields.end()) return std::nullopt;
      return it->second;
    };
    const std::optional<absl::string_view> generation = field(kGeneration);
    if (!generation.has_value()) return MalformedField(kGeneration, "is missing");
    absl::StatusOr<uint64_t> parsed = ParseGeneration(*generation);
    if (!parsed.ok()) return parsed.status();
    if (*parsed == 0) return MalformedField(kGeneration, "is 0 in a stored record");
    record.generation = *parsed;

    const std::optional<absl::string_view> cipher = field(kEncryption);
    if (cipher.has_value() && *cipher != kCipherName) {
      return MalformedField(kEncryption, "names an unknown cipher");
    }
    if (cipher.has_value() && options_.encryption_key.empty()) {
      return absl::FailedPreconditionError(
          "the shared token record is encrypted, and RedisBackendOptions.encryption_key is "
          "empty");
    }
    if (!cipher.has_value() && !options_.encryption_key.empty()) {
      return absl::FailedPreconditionError(
          "the shared token record is stored in clear, and "
          "RedisBackendOptions.encryption_key is set (another replica without it wrote it?)");
    }
    for (const auto& [name, out] :
         {std::pair<absl::string_view, std::string*>{kAccessToken, &record.token.access_token},
          {kRefreshToken, &record.token.refresh_token}}) {
      const std::optional<absl::string_view> value = field(name);
      if (!value.has_value()) continue;
      if (options_.encryption_key.empty()) {
        *out = std::string(*value);
        continue;
      }
      absl::StatusOr<std::string> plain = Open(
          options_.encryption_key, AssociatedData(options_.key_prefix, name, record.generation),
          *value);
      if (!plain.ok()) return plain.status();
      *out = *std::move(plain);
    }
    if (const std::optional<absl::string_view> expires_at = field(kExpiresAt)) {
      absl::StatusOr<absl::Time> t = ParseExpiresAt(*expires_at);
      if (!t.ok()) return t.status();
      record.token.expires_at = *t;
    }
    if (const std::optional<absl::string_view> scope = field(kScope)) {
      record.token.scope = std::string(*scope);
    }
    return record;
  }

  // A token as stored: itself, or sealed for its field and generation.
  absl::StatusOr<std::string> StoredToken(absl::string_view field, uint64_t generation,
                                          const std::string& token) const {
    if (options_.encryption_key.empty()) return token;
    return Seal(options_.encryption_key,
                AssociatedData(options_.key_prefix, field, generation), token);
  }

  absl::Status Unexpected(absl::string_view what) const {
    return absl::InternalError(
        absl::StrCat(where_, " answered ", what, " with an unexpected reply"));
  }

  // An I/O failure (or a timeout) on `c`, which is unusable afterwards.
  absl::Status IoError(const redisContext& c, int saved_errno, absl::string_view what) const {
    if (c.err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)) {
      return absl::UnavailableError(absl::StrCat(where_, ": no answer to ", what, " within ",
                                                 absl::FormatDuration(options_.command_timeout)));
    }
    return absl::UnavailableError(absl::StrCat(where_, ": ", what, " failed: ", c.errstr));
  }

  absl::Status ErrorReply(const redisReply& reply, absl::string_view what) const {
    const std::string code = ErrorCode(absl::string_view(reply.str, reply.len));
    if (code == "NOAUTH") {
      return absl::PermissionDeniedError(absl::StrCat(
          where_, " requires authentication (NOAUTH): set RedisBackendOptions.password"));
    }
    if (code == "WRONGPASS" || code == "NOPERM") {
      return absl::PermissionDeniedError(
          absl::StrCat(where_, " refused ", what, " (", code, ")"));
    }
    return absl::InternalError(
        absl::StrCat(where_, " answered ", what, " with an error (", code, ")"));
  }

  // Sends one command on `c` and reads its answer, which may be an error
  // reply. An I/O error is UNAVAILABLE, and `c` is then unusable.
  absl::StatusOr<Reply> Exchange(redisContext* c, const std::vector<std::string>& args,
                                 absl::string_view what) const {
    std::vector<const char*> argv;
    std::vector<size_t> argv_len;
    argv.reserve(args.size());
    argv_len.reserve(args.size());
    for (const std::string& a : args) {
      argv.push_back(a.data());
      argv_len.push_back(a.size());
    }
    SigpipeBlocked sigpipe_blocked;
    errno = 0;
    Reply reply(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), argv_len.data())));
    const int saved_errno = errno;
    if (reply == nullptr) return IoError(*c, saved_errno, what);
    return reply;
  }

  // A new connection, authenticated, with command_timeout set.
  absl::StatusOr<Context> Connect() const {
    const timeval connect_timeout = absl::ToTimeval(options_.connect_timeout);
    Context c(options_.unix_socket.empty()
                  ? redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                            connect_timeout)
                  : redisConnectUnixWithTimeout(options_.unix_socket.c_str(), connect_timeout));
    if (c == nullptr) return absl::ResourceExhaustedError("cannot allocate a hiredis context");
    if (c->err != 0) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", where_, ": ", c->errstr));
    }
    // AUTH belongs to connecting: bounded by connect_timeout.
    if (redisSetTimeout(c.get(), connect_timeout) != REDIS_OK) {
      return absl::UnavailableError(absl::StrCat("cannot set a timeout on ", where_));
    }
    if (!options_.password.empty()) {
      std::vector<std::string> auth = {"AUTH", options_.password};
      if (!options_.user.empty()) auth.insert(auth.begin() + 1, options_.user);
      absl::StatusOr<Reply> reply = Exchange(c.get(), auth, "AUTH");
      if (!reply.ok()) return reply.status();
      if ((*reply)->type == REDIS_REPLY_ERROR) {
        return absl::PermissionDeniedError(absl::StrCat(
            where_, " refused AUTH",
            options_.user.empty() ? "" : absl::StrCat(" as user '", options_.user, "'"), " (",
            ErrorCode(absl::string_view((*reply)->str, (*reply)->len)), ")"));
      }
    }
    if (redisSetTimeout(c.get(), absl::ToTimeval(options_.command_timeout)) != REDIS_OK) {
      return absl::UnavailableError(absl::StrCat("cannot set a timeout on ", where_));
    }
    return c;
  }

  // One command on the main connection, connecting first if there is none.
  // Error replies become statuses; after an I/O error the connection is
  // dropped, and the next call connects again.
  //
  // A kept connection may have died since its last use (Redis restarted,
  // failed over, or closed it as idle): a command that may safely run twice
  // is then sent once more on a fresh connection. CompareAndSwap is not:
  // had its first send been executed, the second would report a refusal.
  absl::StatusOr<Reply> Run(const std::vector<std::string>& args, absl::string_view what,
                            bool may_repeat = true) {
    for (int attempt = 0;; ++attempt) {
      const bool reused = connection_ != nullptr;
      if (!reused) {
        absl::StatusOr<Context> c = Connect();
        if (!c.ok()) return c.status();
        connection_ = *std::move(c);
      }
      absl::StatusOr<Reply> reply = Exchange(connection_.get(), args, what);
      if (!reply.ok()) {
        // The subscription is to the same server: it has most likely gone
        // with this connection.
        connection_.reset();
        subscriber_.reset();
        if (reused && may_repeat && attempt == 0) continue;
        return reply.status();
      }
      if ((*reply)->type == REDIS_REPLY_ERROR) return ErrorReply(**reply, what);
      return reply;
    }
  }

  // EVAL of a script that returns 1 or 0.
  absl::StatusOr<bool> RunScript(const char* script, const std::vector<std::string>& keys,
                                 std::vector<std::string> args, absl::string_view what,
                                 bool may_repeat = true) {
    std::vector<std::string> command = {"EVAL", script, absl::StrCat(keys.size())};
    command.insert(command.end(), keys.begin(), keys.end());
    command.insert(command.end(), std::make_move_iterator(args.begin()),
                   std::make_move_iterator(args.end()));
    absl::StatusOr<Reply> reply = Run(command, what, may_repeat);
    if (!reply.ok()) return reply.status();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return Unexpected(what);
    return (*reply)->integer == 1;
  }

  absl::Status Subscribe() {
    absl::StatusOr<Context> c = Connect();
    if (!c.ok()) return c.status();
    absl::StatusOr<Reply> reply = Exchange(c->get(), {"SUBSCRIBE", channel_}, "SUBSCRIBE");
    if (!reply.ok()) return reply.status();
    if ((*reply)->type == REDIS_REPLY_ERROR) return ErrorReply(**reply, "SUBSCRIBE");
    if ((*reply)->type != REDIS_REPLY_ARRAY) return Unexpected("SUBSCRIBE");
    subscriber_ = *std::move(c);
    return absl::OkStatus();
  }

  // Returns at the first announcement on the subscription (having read all
  // that arrived with it) or at `wake`. Waits in poll(2) rather than in a
  // blocking read: a read timeout would leave the hiredis context unusable.
  absl::Status AwaitAnnouncement(absl::Time wake) {
    redisContext* c = subscriber_.get();
    bool heard = false;
    while (true) {
      void* message = nullptr;
      if (redisGetReplyFromReader(c, &message) != REDIS_OK) {
        absl::Status error = IoError(*c, 0, "reading announcements");
        subscriber_.reset();
        return error;
      }
      if (message != nullptr) {
        freeReplyObject(message);
        heard = true;
        continue;
      }
      if (heard) return absl::OkStatus();
      const absl::Duration left = wake - absl::Now();
      if (left <= absl::ZeroDuration()) return absl::OkStatus();
      pollfd fd = {c->fd, POLLIN, 0};
      const int64_t wait_ms = std::min<int64_t>(
          INT_MAX, absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
      const int ready = poll(&fd, 1, static_cast<int>(std::max<int64_t>(1, wait_ms)));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) {
        subscriber_.reset();
        return absl::UnavailableError(absl::StrCat(where_, ": poll failed on the subscription"));
      }
      if (ready == 0) continue;
      if (redisBufferRead(c) != REDIS_OK) {
        absl::Status error = IoError(*c, 0, "reading announcements");
        subscriber_.reset();
        return error;
      }
    }
  }

  const RedisBackendOptions options_;
  const std::string where_;  // "Redis at host:port" or "... unix socket path"
  const std::string record_key_;
  const std::string lease_key_;
  const std::string channel_;
  // Used by one thread at a time (the class comment in redis_backend.h):
  // nothing to guard.
  Context connection_;  // commands; null until the first call, or after an I/O error
  Context subscriber_;  // subscribed to channel_; null until the first WaitForChange
};

}  // namespace

absl::StatusOr<std::unique_ptr<SharedTokenBackend>> MakeRedisBackend(
    RedisBackendOptions options) {
  if (options.key_prefix.empty()) {
    return absl::InvalidArgumentError(
        "RedisBackendOptions.key_prefix is empty (e.g. \"authrefresh:orders:\")");
  }
  if (options.unix_socket.empty()) {
    if (options.host.empty()) {
      return absl::InvalidArgumentError(
          "RedisBackendOptions.host is empty (and no unix_socket is set)");
    }
    if (options.port < 1 || options.port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("RedisBackendOptions.port must be in 1..65535, not ", options.port));
    }
  }
  if (!options.user.empty() && options.password.empty()) {
    return absl::InvalidArgumentError(
        "RedisBackendOptions.user is set but RedisBackendOptions.password is empty");
  }
  if (!options.encryption_key.empty() && options.encryption_key.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RedisBackendOptions.encryption_key must be exactly 32 bytes (AES-256), not ",
        options.encryption_key.size()));
  }
  for (const auto& [name, value] :
       {std::pair<const char*, absl::Duration>{"connect_timeout", options.connect_timeout},
        {"command_timeout", options.command_timeout}}) {
    if (value <= absl::ZeroDuration() || value == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("RedisBackendOptions.", name, " must be positive and finite"));
    }
  }
  return std::make_unique<RedisBackend>(std::move(options));
}

}  // namespace authrefresh
