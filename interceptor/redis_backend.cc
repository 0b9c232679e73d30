#include "interceptor/redis_backend.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "interceptor/internal/clock_wait.h"
#include "interceptor/internal/redis_connection.h"
#include "interceptor/internal/redis_record.h"
#include "interceptor/internal/redis_scripts.h"

namespace authrefresh {
namespace {

using internal::RedisContext;
using internal::RedisReply;

class RedisBackend final : public SharedTokenBackend {
 public:
  explicit RedisBackend(RedisBackendOptions options)
      : options_(std::move(options)),
        redis_({options_.host, options_.port, options_.unix_socket, options_.user,
                options_.password, options_.connect_timeout, options_.command_timeout}),
        record_key_(absl::StrCat(options_.key_prefix, "record")),
        lease_key_(absl::StrCat(options_.key_prefix, "lease")),
        channel_(absl::StrCat(options_.key_prefix, "events")),
        codec_(options_.key_prefix, options_.encryption_key),
        clock_(internal::ClockOrSystem(options_.clock)) {}

  absl::StatusOr<SharedRecord> Read() override {
    absl::StatusOr<RedisReply> reply = Run({"HGETALL", record_key_}, "HGETALL");
    if (!reply.ok()) return reply.status();
    const redisReply& r = **reply;
    if (r.type != REDIS_REPLY_ARRAY || r.elements % 2 != 0) {
      return redis_.Unexpected("HGETALL");
    }
    absl::flat_hash_map<absl::string_view, absl::string_view> fields;
    for (size_t i = 0; i < r.elements; i += 2) {
      const redisReply* name = r.element[i];
      const redisReply* value = r.element[i + 1];
      if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING) {
        return redis_.Unexpected("HGETALL");
      }
      fields[absl::string_view(name->str, name->len)] = absl::string_view(value->str, value->len);
    }
    return codec_.Decode(fields);
  }

  absl::StatusOr<bool> TryAcquireLease(const std::string& owner, absl::Duration ttl) override {
    if (owner.empty()) return absl::InvalidArgumentError("TryAcquireLease: owner is empty");
    if (ttl <= absl::ZeroDuration() || ttl == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError("TryAcquireLease: ttl must be positive and finite");
    }
    const int64_t millis =
        std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(ttl, absl::Milliseconds(1))));
    return RunScript(internal::kAcquireScript, {lease_key_}, {owner, absl::StrCat(millis)},
                     "TryAcquireLease");
  }

  absl::StatusOr<bool> CompareAndSwap(uint64_t expected_generation,
                                      const SharedRecord& record) override {
    if (record.generation != expected_generation + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("CompareAndSwap: the record's generation must be "
                       "expected_generation + 1 (",
                       expected_generation + 1, "), not ", record.generation));
    }
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> fields = codec_.Encode(record);
    if (!fields.ok()) return fields.status();
    std::vector<std::string> args = {absl::StrCat(expected_generation),
                                     absl::StrCat(record.generation), channel_};
    for (auto& [field, value] : *fields) {
      args.push_back(std::move(field));
      args.push_back(std::move(value));
    }
    return RunScript(internal::kCompareAndSwapScript, {record_key_}, std::move(args),
                     "CompareAndSwap",
                     /*may_repeat=*/false);
  }

  absl::Status ReleaseLease(const std::string& owner) override {
    return RunScript(internal::kReleaseScript, {lease_key_}, {owner, channel_}, "ReleaseLease")
        .status();
  }

  absl::Status WaitForChange(uint64_t generation, absl::Duration timeout) override {
    const absl::Time deadline = clock_->Now() + timeout;
    while (true) {
      // Subscribed before each look at the record: whatever changes after
      // the look is announced on the subscription.
      if (subscriber_ == nullptr) {
        absl::Status subscribed = Subscribe();
        if (!subscribed.ok()) return subscribed;
      }
      absl::StatusOr<RedisReply> reply =
          Run({"EVAL", internal::kObserveScript, "2", record_key_, lease_key_}, "WaitForChange");
      if (!reply.ok()) return reply.status();
      // Run() reconnected and dropped the subscription: look again once
      // subscribed anew.
      if (subscriber_ == nullptr) continue;
      const redisReply& r = **reply;
      if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 ||
          r.element[0]->type != REDIS_REPLY_STRING || r.element[1]->type != REDIS_REPLY_INTEGER) {
        return redis_.Unexpected("WaitForChange");
      }
      const absl::string_view stored(r.element[0]->str, r.element[0]->len);
      uint64_t current = 0;
      if (!stored.empty()) {
        absl::StatusOr<uint64_t> parsed = internal::ParseRedisGeneration(stored);
        if (!parsed.ok()) return parsed.status();
        current = *parsed;
      }
      // PTTL: -2 no lease, -1 a lease without expiry (not one of ours, but
      // held all the same), else milliseconds left.
      const long long lease_left_ms = r.element[1]->integer;
      if (current != generation || lease_left_ms == -2) return absl::OkStatus();
      const absl::Time now = clock_->Now();
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
  // One command on the main connection, connecting first if there is none.
  // Error replies become statuses; after an I/O error the connection is
  // dropped, and the next call connects again.
  //
  // A kept connection may have died since its last use (Redis restarted,
  // failed over, or closed it as idle): a command that may safely run twice
  // is then sent once more on a fresh connection. CompareAndSwap is not:
  // had its first send been executed, the second would report a refusal.
  absl::StatusOr<RedisReply> Run(const std::vector<std::string>& args, absl::string_view what,
                                 bool may_repeat = true) {
    for (int attempt = 0;; ++attempt) {
      const bool reused = connection_ != nullptr;
      if (!reused) {
        absl::StatusOr<RedisContext> c = redis_.Connect();
        if (!c.ok()) return c.status();
        connection_ = *std::move(c);
      }
      absl::StatusOr<RedisReply> reply = redis_.Exchange(connection_.get(), args, what);
      if (!reply.ok()) {
        // The subscription is to the same server: it has most likely gone
        // with this connection.
        connection_.reset();
        subscriber_.reset();
        if (reused && may_repeat && attempt == 0) continue;
        return reply.status();
      }
      if ((*reply)->type == REDIS_REPLY_ERROR) return redis_.ErrorReply(**reply, what);
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
    absl::StatusOr<RedisReply> reply = Run(command, what, may_repeat);
    if (!reply.ok()) return reply.status();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return redis_.Unexpected(what);
    return (*reply)->integer == 1;
  }

  absl::Status Subscribe() {
    absl::StatusOr<RedisContext> c = redis_.Connect();
    if (!c.ok()) return c.status();
    absl::StatusOr<RedisReply> reply =
        redis_.Exchange(c->get(), {"SUBSCRIBE", channel_}, "SUBSCRIBE");
    if (!reply.ok()) return reply.status();
    if ((*reply)->type == REDIS_REPLY_ERROR) return redis_.ErrorReply(**reply, "SUBSCRIBE");
    if ((*reply)->type != REDIS_REPLY_ARRAY) return redis_.Unexpected("SUBSCRIBE");
    subscriber_ = *std::move(c);
    return absl::OkStatus();
  }

  // An eventfd that a Clock timer writes to when a wait is over: the wait
  // below ends on the clock's time (a fake clock's in tests), never on a
  // poll(2) timeout of its own. Shared with the timer's callback, which may
  // run after the backend is gone.
  struct WakeFd {
    explicit WakeFd(int f) : fd(f) {}
    ~WakeFd() { close(fd); }
    void Drain() const {
      uint64_t count = 0;
      while (read(fd, &count, sizeof(count)) > 0) {
      }
    }
    const int fd;
  };

  // Returns at the first announcement on the subscription (having read all
  // that arrived with it) or when `clock_` reaches `wake`. Waits in poll(2)
  // rather than in a blocking read: a read timeout would leave the hiredis
  // context unusable.
  absl::Status AwaitAnnouncement(absl::Time wake) {
    if (wake_fd_ == nullptr) {
      const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (fd < 0) return absl::ResourceExhaustedError("cannot create an eventfd");
      wake_fd_ = std::make_shared<WakeFd>(fd);
    }
    wake_fd_->Drain();
    std::shared_ptr<Clock::Timer> timer = clock_->Schedule(wake, [fd = wake_fd_] {
      const uint64_t one = 1;
      (void)!write(fd->fd, &one, sizeof(one));
    });
    absl::Status result = AwaitAnnouncementOrWakeFd(wake);
    timer->Cancel();
    return result;
  }

  absl::Status AwaitAnnouncementOrWakeFd(absl::Time wake) {
    redisContext* c = subscriber_.get();
    bool heard = false;
    while (true) {
      void* message = nullptr;
      if (redisGetReplyFromReader(c, &message) != REDIS_OK) {
        absl::Status error = redis_.IoError(*c, 0, "reading announcements");
        subscriber_.reset();
        return error;
      }
      if (message != nullptr) {
        freeReplyObject(message);
        heard = true;
        continue;
      }
      if (heard || clock_->Now() >= wake) return absl::OkStatus();
      pollfd fds[2] = {{c->fd, POLLIN, 0}, {wake_fd_->fd, POLLIN, 0}};
      const int ready = poll(fds, 2, -1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) {
        subscriber_.reset();
        return absl::UnavailableError(
            absl::StrCat(redis_.where(), ": poll failed on the subscription"));
      }
      if (fds[1].revents != 0) wake_fd_->Drain();
      if (fds[0].revents == 0) continue;
      if (redisBufferRead(c) != REDIS_OK) {
        absl::Status error = redis_.IoError(*c, 0, "reading announcements");
        subscriber_.reset();
        return error;
      }
    }
  }

  const RedisBackendOptions options_;
  const internal::RedisConnector redis_;
  const std::string record_key_;
  const std::string lease_key_;
  const std::string channel_;
  const internal::RedisRecordCodec codec_;
  const std::shared_ptr<Clock> clock_;
  // Used by one thread at a time ("Thread safety" in redis_backend.h):
  // nothing to guard.
  RedisContext connection_;  // commands; null until the first call, or after an I/O error
  // Subscribed to channel_; null until the first WaitForChange, and after an
  // I/O error on either connection.
  RedisContext subscriber_;
  std::shared_ptr<WakeFd> wake_fd_;  // null until the first wait
};

}  // namespace

absl::StatusOr<std::unique_ptr<SharedTokenBackend>> MakeRedisBackend(RedisBackendOptions options) {
  if (options.key_prefix.empty()) {
    return absl::InvalidArgumentError(
        "RedisBackendOptions.key_prefix is empty "
        "(e.g. \"authrefresh:orders:\")");
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
        "RedisBackendOptions.user is set but "
        "RedisBackendOptions.password is empty");
  }
  if (!options.encryption_key.empty() && options.encryption_key.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("RedisBackendOptions.encryption_key must be exactly 32 "
                     "bytes (AES-256), not ",
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
