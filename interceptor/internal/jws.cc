#include "interceptor/internal/jws.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "interceptor/internal/mutex.h"

namespace authrefresh {
namespace internal {
namespace {

// A JSON string literal (RFC 8259 section 7): quotes, backslashes and
// control characters escaped; other bytes (UTF-8) as they are.
void AppendJsonString(std::string* out, absl::string_view text) {
  *out += '"';
  size_t run = 0;  // start of the bytes not yet appended, which need no escape
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const unsigned char u = static_cast<unsigned char>(c);
    if (c != '"' && c != '\\' && u >= 0x20) continue;
    out->append(text.data() + run, i - run);
    run = i + 1;
    if (u < 0x20) {
      absl::StrAppendFormat(out, "\\u%04x", u);
    } else {
      *out += '\\';
      *out += c;
    }
  }
  out->append(text.data() + run, text.size() - run);
  *out += '"';
}

// jti values: 16 bytes of OpenSSL's CSPRNG each, drawn 64 at a time. One
// RAND_bytes call per jti cost about 7,000 instructions (the generator's
// locking and reseed checks; the bytes themselves are cheap), a quarter of
// everything a DPoP proof adds besides its signature. The bytes are not
// secret (a jti is sent in the clear) but must not repeat: a block drawn
// before a fork() is dropped in the child, since the parent uses it too.
class JwtIdSource {
 public:
  static constexpr size_t kIdBytes = 16;

  void Next(unsigned char* out) {
    MutexLock lock(&mu_);
    const pid_t pid = getpid();
    if (used_ == sizeof(block_) || pid != pid_) {
      if (RAND_bytes(block_, sizeof(block_)) != 1) {
        // OpenSSL's CSPRNG failing is not recoverable here; abort rather
        // than send a predictable jti.
        ERR_clear_error();
        std::abort();
      }
      used_ = 0;
      pid_ = pid;
    }
    std::memcpy(out, block_ + used_, kIdBytes);
    used_ += kIdBytes;
  }

 private:
  Mutex mu_;
  unsigned char block_[64 * kIdBytes] ABSL_GUARDED_BY(mu_);
  size_t used_ ABSL_GUARDED_BY(mu_) = sizeof(block_);
  pid_t pid_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

JwtSigner::JwtSigner(std::unique_ptr<const JwsPrivateKey> key, std::string header)
    : key_(std::move(key)), encoded_header_(std::move(header)) {}

JwtSigner::~JwtSigner() = default;

absl::StatusOr<std::shared_ptr<const JwtSigner>> JwtSigner::Create(const JwsKeyMaterial& material,
                                                                   absl::string_view what) {
  absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> key =
      JwsPrivateKey::FromPem(material.private_key_pem, material.algorithm, what);
  if (!key.ok()) return key.status();
  JsonObject header;
  header.Add("alg", JwsAlgorithmName(material.algorithm)).Add("typ", "JWT");
  if (!material.key_id.empty()) header.Add("kid", material.key_id);
  if (!material.certificate_pem.empty()) {
    absl::StatusOr<JwsPrivateKey::Thumbprints> x5t =
        (*key)->CertificateThumbprints(material.certificate_pem, what);
    if (!x5t.ok()) return x5t.status();
    header.Add("x5t", x5t->sha1).Add("x5t#S256", x5t->sha256);
  }
  return std::shared_ptr<const JwtSigner>(
      new JwtSigner(*std::move(key), Base64Url(header.Close())));
}

absl::StatusOr<std::string> JwtSigner::Sign(absl::string_view claims_json) const {
  std::string signing_input = absl::StrCat(encoded_header_, ".", Base64Url(claims_json));
  absl::StatusOr<std::string> signature = key_->Sign(signing_input);
  if (!signature.ok()) return signature.status();
  return absl::StrCat(signing_input, ".", Base64Url(*signature));
}

std::string Base64Url(absl::string_view data) { return absl::WebSafeBase64Escape(data); }

std::string NewJwtId() {
  static JwtIdSource* const source = new JwtIdSource();
  unsigned char bytes[JwtIdSource::kIdBytes];
  source->Next(bytes);
  return Base64Url(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

std::string Sha256Base64Url(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr) != 1) {
    // SHA-256 cannot fail short of memory exhaustion; never return a wrong
    // hash.
    ERR_clear_error();
    std::abort();
  }
  return Base64Url(absl::string_view(reinterpret_cast<const char*>(digest), n));
}

void JsonObject::Name(absl::string_view name) {
  if (out_.size() > 1) out_ += ',';
  AppendJsonString(&out_, name);
  out_ += ':';
}

JsonObject& JsonObject::Add(absl::string_view name, absl::string_view value) {
  Name(name);
  AppendJsonString(&out_, value);
  return *this;
}

JsonObject& JsonObject::AddJson(absl::string_view name, absl::string_view json) {
  Name(name);
  out_.append(json.data(), json.size());
  return *this;
}

JsonObject& JsonObject::Add(absl::string_view name, int64_t value) {
  Name(name);
  absl::StrAppend(&out_, value);
  return *this;
}

}  // namespace internal
}  // namespace authrefresh
