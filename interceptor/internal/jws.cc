#include "interceptor/internal/jws.h"

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace authrefresh {
namespace internal {
namespace {

constexpr int kMinRsaBits = 2048;       // RFC 7518 section 3.3
constexpr size_t kEs256PartBytes = 32;  // P-256: r and s, 32 bytes each

// The label of the first "-----BEGIN <label>-----" of `pem` other than
// "EC PARAMETERS" (which `openssl ecparam -genkey` writes before the key),
// or "" (labels are not secret; they say what kind of PEM block was given).
std::string PemLabel(absl::string_view pem) {
  constexpr absl::string_view kBegin = "-----BEGIN ";
  size_t from = 0;
  for (;;) {
    const size_t at = pem.find(kBegin, from);
    if (at == absl::string_view::npos) return "";
    const size_t start = at + kBegin.size();
    const size_t end = pem.find("-----", start);
    if (end == absl::string_view::npos || end - start > 40) return "";
    const absl::string_view label = pem.substr(start, end - start);
    if (label != "EC PARAMETERS") return std::string(label);
    from = end;
  }
}

// OpenSSL's reason for the last failure (a fixed string such as "no start
// line"; never data), and the error queue cleared.
std::string OpenSslReason() {
  const unsigned long code = ERR_peek_last_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? reason : "unknown error";
}

// Declines every passphrase request: encrypted keys are refused, never
// prompted for on the terminal.
int NoPassphrase(char*, int, int, void*) { return -1; }

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

std::unique_ptr<BIO, BioFree> MemoryBio(absl::string_view data) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

absl::StatusOr<std::string> Thumbprint(X509* cert, const EVP_MD* md) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, md, digest, &n) != 1) {
    return absl::InternalError(absl::StrCat("X509_digest failed: ", OpenSslReason()));
  }
  return Base64Url(absl::string_view(reinterpret_cast<const char*>(digest), n));
}

// A JSON string literal (RFC 8259 section 7): quotes, backslashes and
// control characters escaped; other bytes (UTF-8) as they are.
void AppendJsonString(std::string* out, absl::string_view text) {
  *out += '"';
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if (u < 0x20) {
      absl::StrAppendFormat(out, "\\u%04x", u);
    } else {
      *out += c;
    }
  }
  *out += '"';
}

}  // namespace

struct JwtSigner::Key {
  ~Key() { EVP_PKEY_free(pkey); }
  EVP_PKEY* pkey = nullptr;
};

JwtSigner::JwtSigner(std::unique_ptr<Key> key, JwsAlgorithm algorithm,
                     std::string header)
    : key_(std::move(key)), algorithm_(algorithm), encoded_header_(std::move(header)) {}

JwtSigner::~JwtSigner() = default;

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

template <typename... Parts>
absl::Status Invalid(absl::string_view what, const Parts&... parts) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", parts...));
}

absl::StatusOr<Pkey> ParsePrivateKey(absl::string_view pem, absl::string_view what) {
  if (pem.empty()) return Invalid(what, "no private key");
  const std::string label = PemLabel(pem);
  if (label.empty()) {
    return Invalid(what, "the private key is not PEM (no \"-----BEGIN ...-----\" line)");
  }
  if (label == "ENCRYPTED PRIVATE KEY" || absl::StrContains(pem, "Proc-Type: 4,ENCRYPTED")) {
    return Invalid(what,
                   "the private key is encrypted; give an unencrypted PEM key "
                   "(protect the file instead)");
  }
  if (label != "PRIVATE KEY" && label != "RSA PRIVATE KEY" && label != "EC PRIVATE KEY") {
    return Invalid(what, "expected a PEM private key, found a \"", label, "\" block");
  }
  auto bio = MemoryBio(pem);
  ERR_clear_error();
  Pkey key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr)
               : nullptr);
  if (key == nullptr) {
    return Invalid(what, "the private key cannot be parsed (", OpenSslReason(), ")");
  }
  return key;
}

absl::StatusOr<Cert> ParseCertificate(absl::string_view pem, absl::string_view what) {
  auto bio = MemoryBio(pem);
  ERR_clear_error();
  Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, &NoPassphrase, nullptr) : nullptr);
  if (cert == nullptr) {
    return Invalid(what, "the certificate is not a PEM X.509 certificate (",
                   OpenSslReason(), ")");
  }
  return cert;
}

absl::Status CheckBelongs(X509* cert, EVP_PKEY* key, absl::string_view what) {
  if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    return Invalid(what, "the certificate does not belong to the private key");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCertificateAndKey(absl::string_view certificate_pem,
                                    absl::string_view private_key_pem,
                                    absl::string_view what) {
  absl::StatusOr<Pkey> key = ParsePrivateKey(private_key_pem, what);
  if (!key.ok()) return key.status();
  absl::StatusOr<Cert> cert = ParseCertificate(certificate_pem, what);
  if (!cert.ok()) return cert.status();
  return CheckBelongs(cert->get(), key->get(), what);
}

absl::StatusOr<std::shared_ptr<const JwtSigner>> JwtSigner::Create(
    const JwsKeyMaterial& material, absl::string_view what) {
  const bool es256 = material.algorithm == JwsAlgorithm::kES256;
  const char* alg = es256 ? "ES256" : "RS256";
  auto invalid = [what](const auto&... parts) { return Invalid(what, parts...); };
  absl::StatusOr<Pkey> parsed = ParsePrivateKey(material.private_key_pem, what);
  if (!parsed.ok()) return parsed.status();
  auto key = std::make_unique<Key>();
  key->pkey = parsed->release();
  if (es256) {
    char group[64] = {0};
    size_t group_len = 0;
    const bool named = EVP_PKEY_is_a(key->pkey, "EC") &&
                       EVP_PKEY_get_group_name(key->pkey, group, sizeof(group), &group_len) == 1;
    ERR_clear_error();  // an EC key with explicit parameters has no group name
    if (!named || std::strcmp(group, "prime256v1") != 0) {
      return invalid("ES256 needs an EC P-256 key; this is ",
                     EVP_PKEY_is_a(key->pkey, "EC")
                         ? absl::StrCat("an EC key on curve ", group[0] ? group : "unknown")
                         : absl::StrCat("a ", EVP_PKEY_get0_type_name(key->pkey), " key"));
    }
  } else {
    if (!EVP_PKEY_is_a(key->pkey, "RSA")) {
      return invalid("RS256 needs an RSA key; this is a ",
                     EVP_PKEY_get0_type_name(key->pkey), " key");
    }
    if (EVP_PKEY_get_bits(key->pkey) < kMinRsaBits) {
      return invalid("RS256 needs an RSA key of at least ", kMinRsaBits,
                     " bits; this one has ", EVP_PKEY_get_bits(key->pkey));
    }
  }

  JsonObject header;
  header.Add("alg", alg).Add("typ", "JWT");
  if (!material.key_id.empty()) header.Add("kid", material.key_id);
  if (!material.certificate_pem.empty()) {
    absl::StatusOr<Cert> cert = ParseCertificate(material.certificate_pem, what);
    if (!cert.ok()) return cert.status();
    if (absl::Status s = CheckBelongs(cert->get(), key->pkey, what); !s.ok()) return s;
    absl::StatusOr<std::string> sha1 = Thumbprint(cert->get(), EVP_sha1());
    absl::StatusOr<std::string> sha256 = Thumbprint(cert->get(), EVP_sha256());
    if (!sha1.ok()) return sha1.status();
    if (!sha256.ok()) return sha256.status();
    header.Add("x5t", *sha1).Add("x5t#S256", *sha256);
  }
  std::shared_ptr<const JwtSigner> signer(
      new JwtSigner(std::move(key), material.algorithm, Base64Url(header.Close())));
  // One signature now, so that a key OpenSSL loads but cannot sign with is a
  // construction error, not a failure at the first grant.
  if (absl::StatusOr<std::string> probe = signer->Sign("{}"); !probe.ok()) {
    return invalid("the key cannot sign: ", probe.status().message());
  }
  return signer;
}

absl::StatusOr<std::string> JwtSigner::Sign(absl::string_view claims_json) const {
  std::string signing_input = absl::StrCat(encoded_header_, ".", Base64Url(claims_json));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t length = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, data, signing_input.size()) != 1) {
    return absl::InternalError(absl::StrCat("JWS signing failed: ", OpenSslReason()));
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()),
                     &length, data, signing_input.size()) != 1) {
    return absl::InternalError(absl::StrCat("JWS signing failed: ", OpenSslReason()));
  }
  signature.resize(length);
  if (algorithm_ == JwsAlgorithm::kES256) {
    // OpenSSL gives an ASN.1 DER ECDSA-Sig-Value; JWS wants r || s, each
    // left-padded to 32 bytes (RFC 7518 section 3.4).
    const auto* der = reinterpret_cast<const unsigned char*>(signature.data());
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(
        d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size())));
    std::string raw(2 * kEs256PartBytes, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    if (sig == nullptr ||
        BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, kEs256PartBytes) < 0 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + kEs256PartBytes,
                     kEs256PartBytes) < 0) {
      return absl::InternalError(
          absl::StrCat("JWS signing failed: bad ECDSA signature (", OpenSslReason(), ")"));
    }
    signature = std::move(raw);
  }
  return absl::StrCat(signing_input, ".", Base64Url(signature));
}

std::string Base64Url(absl::string_view data) { return absl::WebSafeBase64Escape(data); }

std::string NewJwtId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // OpenSSL's CSPRNG failing is not recoverable here; abort rather than
    // send a predictable jti.
    ERR_clear_error();
    std::abort();
  }
  return Base64Url(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
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

JsonObject& JsonObject::Add(absl::string_view name, int64_t value) {
  Name(name);
  absl::StrAppend(&out_, value);
  return *this;
}

}  // namespace internal
}  // namespace authrefresh
