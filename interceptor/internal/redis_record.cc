#include "interceptor/internal/redis_record.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "interceptor/internal/aes_gcm.h"
#include "interceptor/internal/token_file.h"  // IsDpopThumbprint

namespace authrefresh {
namespace internal {
namespace {

constexpr absl::string_view kGeneration = "generation";
constexpr absl::string_view kAccessToken = "access_token";
constexpr absl::string_view kRefreshToken = "refresh_token";
constexpr absl::string_view kExpiresAt = "expires_at";
constexpr absl::string_view kIssuedAt = "issued_at";
constexpr absl::string_view kScope = "scope";
constexpr absl::string_view kDpopJkt = "dpop_jkt";
constexpr absl::string_view kEncryption = "encryption";
constexpr absl::string_view kCipherName = "aes-256-gcm";

absl::Status MalformedField(absl::string_view field, absl::string_view why) {
  return absl::InternalError(
      absl::StrCat("the shared token record's field '", field, "' ", why));
}

// The additional data a token's ciphertext is bound to: it does not decrypt
// under another prefix, in another field or in another generation.
std::string AssociatedData(absl::string_view prefix, absl::string_view field,
                           uint64_t generation) {
  return absl::StrCat(prefix, std::string(1, '\0'), field, std::string(1, '\0'), generation);
}

// Unix milliseconds; 0 stands for `none` (never, unknown).
absl::StatusOr<absl::Time> ParseMillis(absl::string_view field, absl::string_view text,
                                       absl::Time none) {
  absl::string_view digits = text;
  if (!digits.empty() && digits[0] == '-') digits.remove_prefix(1);
  int64_t millis = 0;
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(text, &millis)) {
    return MalformedField(field, "is not unix milliseconds");
  }
  return millis == 0 ? none : absl::FromUnixMillis(millis);
}

std::string FormatMillis(absl::Time t, absl::Time none) {
  if (t == none) return "0";
  const int64_t millis = absl::ToUnixMillis(t);
  // 0 means `none`; a time at the epoch is as good a millisecond earlier.
  return absl::StrCat(millis == 0 ? -1 : millis);
}

}  // namespace

absl::StatusOr<uint64_t> ParseRedisGeneration(absl::string_view text) {
  uint64_t value = 0;
  if (text.empty() || (text.size() > 1 && text[0] == '0') ||
      !std::all_of(text.begin(), text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(text, &value)) {
    return MalformedField(kGeneration, "is not a generation number");
  }
  return value;
}

RedisRecordCodec::RedisRecordCodec(std::string key_prefix, std::string encryption_key)
    : key_prefix_(std::move(key_prefix)), encryption_key_(std::move(encryption_key)) {}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> RedisRecordCodec::Encode(
    const SharedRecord& record) const {
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& [field, value] :
       {std::pair<absl::string_view, const std::string*>{kAccessToken, &record.token.access_token},
        {kRefreshToken, &record.token.refresh_token}}) {
    if (encryption_key_.empty()) {
      fields.emplace_back(field, *value);
      continue;
    }
    absl::StatusOr<std::string> sealed = SealAes256Gcm(
        encryption_key_, AssociatedData(key_prefix_, field, record.generation), *value);
    if (!sealed.ok()) return sealed.status();
    fields.emplace_back(field, *std::move(sealed));
  }
  fields.emplace_back(kGeneration, absl::StrCat(record.generation));
  fields.emplace_back(kExpiresAt, FormatMillis(record.token.expires_at, absl::InfiniteFuture()));
  fields.emplace_back(kIssuedAt, FormatMillis(record.token.issued_at, absl::InfinitePast()));
  fields.emplace_back(kScope, record.token.scope);
  if (!record.token.dpop_jkt.empty()) fields.emplace_back(kDpopJkt, record.token.dpop_jkt);
  if (!encryption_key_.empty()) fields.emplace_back(kEncryption, kCipherName);
  return fields;
}

absl::StatusOr<SharedRecord> RedisRecordCodec::Decode(
    const absl::flat_hash_map<absl::string_view, absl::string_view>& fields) const {
  SharedRecord record;
  if (fields.empty()) return record;
  auto field = [&fields](absl::string_view name) -> std::optional<absl::string_view> {
    auto it = fields.find(name);
    if (it == fields.end()) return std::nullopt;
    return it->second;
  };
  const std::optional<absl::string_view> generation = field(kGeneration);
  if (!generation.has_value()) return MalformedField(kGeneration, "is missing");
  absl::StatusOr<uint64_t> parsed = ParseRedisGeneration(*generation);
  if (!parsed.ok()) return parsed.status();
  if (*parsed == 0) return MalformedField(kGeneration, "is 0 in a stored record");
  record.generation = *parsed;

  const std::optional<absl::string_view> cipher = field(kEncryption);
  if (cipher.has_value() && *cipher != kCipherName) {
    return MalformedField(kEncryption, "names an unknown cipher");
  }
  if (cipher.has_value() && encryption_key_.empty()) {
    return absl::FailedPreconditionError(
        "the shared token record is encrypted, and RedisBackendOptions.encryption_key is empty");
  }
  if (!cipher.has_value() && !encryption_key_.empty()) {
    return absl::FailedPreconditionError(
        "the shared token record is stored in clear, and RedisBackendOptions.encryption_key "
        "is set (another replica without it wrote it?)");
  }
  for (const auto& [name, out] :
       {std::pair<absl::string_view, std::string*>{kAccessToken, &record.token.access_token},
        {kRefreshToken, &record.token.refresh_token}}) {
    const std::optional<absl::string_view> value = field(name);
    if (!value.has_value()) continue;
    if (encryption_key_.empty()) {
      *out = std::string(*value);
      continue;
    }
    std::optional<std::string> plain = OpenAes256Gcm(
        encryption_key_, AssociatedData(key_prefix_, name, record.generation), *value);
    if (!plain.has_value()) {
      return absl::FailedPreconditionError(
          "cannot decrypt the shared token record (wrong encryption_key?)");
    }
    *out = *std::move(plain);
  }
  for (const auto& [name, out, none] :
       {std::tuple<absl::string_view, absl::Time*, absl::Time>{
            kExpiresAt, &record.token.expires_at, absl::InfiniteFuture()},
        {kIssuedAt, &record.token.issued_at, absl::InfinitePast()}}) {
    if (const std::optional<absl::string_view> text = field(name)) {
      absl::StatusOr<absl::Time> t = ParseMillis(name, *text, none);
      if (!t.ok()) return t.status();
      *out = *t;
    }
  }
  if (const std::optional<absl::string_view> scope = field(kScope)) {
    record.token.scope = std::string(*scope);
  }
  if (const std::optional<absl::string_view> jkt = field(kDpopJkt)) {
    if (!IsDpopThumbprint(*jkt)) return MalformedField(kDpopJkt, "is not a key thumbprint");
    record.token.dpop_jkt = std::string(*jkt);
  }
  return record;
}

}  // namespace internal
}  // namespace authrefresh
