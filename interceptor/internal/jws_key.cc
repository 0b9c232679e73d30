#include "interceptor/internal/jws_key.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "interceptor/internal/jws.h"
#include "interceptor/internal/key_signer.h"
#include "interceptor/internal/openssl_error.h"

namespace authrefresh {
namespace internal {
namespace {

constexpr int kMinRsaBits = 2048;  // RFC 7518 section 3.3

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

// Declines every passphrase request: encrypted keys are refused, never
// prompted for on the terminal.
int NoPassphrase(char*, int, int, void*) { return -1; }

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

std::unique_ptr<BIO, BioFree> MemoryBio(absl::string_view data) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

absl::StatusOr<std::string> Thumbprint(X509* cert, const EVP_MD* md) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, md, digest, &n) != 1) {
    return absl::InternalError(absl::StrCat("X509_digest failed: ", OpenSslReason()));
  }
  return Base64Url(absl::string_view(reinterpret_cast<const char*>(digest), n));
}

}  // namespace

struct JwsPrivateKey::Key {
  ~Key() { EVP_PKEY_free(pkey); }
  EVP_PKEY* pkey = nullptr;
};

JwsPrivateKey::JwsPrivateKey(std::unique_ptr<Key> key, JwsAlgorithm algorithm)
    : key_(std::move(key)), algorithm_(algorithm) {}

JwsPrivateKey::~JwsPrivateKey() = default;

const char* JwsAlgorithmName(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::kRS256:
      return "RS256";
    case JwsAlgorithm::kES256:
      return "ES256";
    case JwsAlgorithm::kPS256:
      return "PS256";
    case JwsAlgorithm::kEdDSA:
      return "EdDSA";
  }
  return "?";
}

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};

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
  Pkey key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr) : nullptr);
  if (key == nullptr) {
    return Invalid(what, "the private key cannot be parsed (", OpenSslReason(), ")");
  }
  return key;
}

// Whether `key` is of the type and size `algorithm` signs with.
absl::Status CheckFits(EVP_PKEY* key, JwsAlgorithm algorithm, absl::string_view what) {
  const char* alg = JwsAlgorithmName(algorithm);
  switch (algorithm) {
    case JwsAlgorithm::kES256: {
      char group[64] = {0};
      size_t group_len = 0;
      const bool named = EVP_PKEY_is_a(key, "EC") &&
                         EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len) == 1;
      ERR_clear_error();  // an EC key with explicit parameters has no group name
      if (!named || std::strcmp(group, "prime256v1") != 0) {
        return Invalid(what, "ES256 needs an EC P-256 key; this is ",
                       EVP_PKEY_is_a(key, "EC")
                           ? absl::StrCat("an EC key on curve ", group[0] ? group : "unknown")
                           : absl::StrCat("a ", EVP_PKEY_get0_type_name(key), " key"));
      }
      return absl::OkStatus();
    }
    case JwsAlgorithm::kEdDSA:
      if (!EVP_PKEY_is_a(key, "ED25519")) {
        return Invalid(what, "EdDSA needs an Ed25519 key; this is a ", EVP_PKEY_get0_type_name(key),
                       " key");
      }
      return absl::OkStatus();
    case JwsAlgorithm::kRS256:
    case JwsAlgorithm::kPS256:
      if (!EVP_PKEY_is_a(key, "RSA")) {
        return Invalid(what, alg, " needs an RSA key; this is a ", EVP_PKEY_get0_type_name(key),
                       " key");
      }
      if (EVP_PKEY_get_bits(key) < kMinRsaBits) {
        return Invalid(what, alg, " needs an RSA key of at least ", kMinRsaBits,
                       " bits; this one has ", EVP_PKEY_get_bits(key));
      }
      return absl::OkStatus();
  }
  return Invalid(what, "unknown algorithm");
}

// A big-endian unsigned integer parameter of `key`, `width` bytes long
// (left-padded), or as short as it is when `width` is 0.
std::optional<std::string> BigEndianParam(EVP_PKEY* key, const char* name, int width) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::unique_ptr<BIGNUM, BnFree> bn(raw);
  const int size = width > 0 ? width : BN_num_bytes(bn.get());
  std::string out(static_cast<size_t>(size), '\0');
  auto* to = reinterpret_cast<unsigned char*>(out.data());
  if ((width > 0 ? BN_bn2binpad(bn.get(), to, width) : BN_bn2bin(bn.get(), to)) < 0) {
    return std::nullopt;
  }
  return out;
}

// RFC 7638 section 3.2's members of the public key, in its order.
std::optional<std::string> PublicJwk(EVP_PKEY* key, JwsAlgorithm algorithm) {
  JsonObject jwk;
  switch (algorithm) {
    case JwsAlgorithm::kES256: {
      std::optional<std::string> x = BigEndianParam(key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
      std::optional<std::string> y = BigEndianParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
      if (!x || !y) return std::nullopt;
      jwk.Add("crv", "P-256").Add("kty", "EC").Add("x", Base64Url(*x)).Add("y", Base64Url(*y));
      break;
    }
    case JwsAlgorithm::kEdDSA: {
      unsigned char x[32];
      size_t length = sizeof(x);
      if (EVP_PKEY_get_raw_public_key(key, x, &length) != 1 || length != sizeof(x)) {
        ERR_clear_error();
        return std::nullopt;
      }
      jwk.Add("crv", "Ed25519")
          .Add("kty", "OKP")
          .Add("x", Base64Url(absl::string_view(reinterpret_cast<const char*>(x), length)));
      break;
    }
    case JwsAlgorithm::kRS256:
    case JwsAlgorithm::kPS256: {
      std::optional<std::string> n = BigEndianParam(key, OSSL_PKEY_PARAM_RSA_N, 0);
      std::optional<std::string> e = BigEndianParam(key, OSSL_PKEY_PARAM_RSA_E, 0);
      if (!n || !e) return std::nullopt;
      jwk.Add("e", Base64Url(*e)).Add("kty", "RSA").Add("n", Base64Url(*n));
      break;
    }
  }
  return jwk.Close();
}

absl::StatusOr<Cert> ParseCertificate(absl::string_view pem, absl::string_view what) {
  auto bio = MemoryBio(pem);
  ERR_clear_error();
  Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, &NoPassphrase, nullptr) : nullptr);
  if (cert == nullptr) {
    return Invalid(what, "the certificate is not a PEM X.509 certificate (", OpenSslReason(), ")");
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
                                    absl::string_view private_key_pem, absl::string_view what) {
  absl::StatusOr<Pkey> key = ParsePrivateKey(private_key_pem, what);
  if (!key.ok()) return key.status();
  absl::StatusOr<Cert> cert = ParseCertificate(certificate_pem, what);
  if (!cert.ok()) return cert.status();
  return CheckBelongs(cert->get(), key->get(), what);
}

absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> JwsPrivateKey::Finish(std::unique_ptr<Key> key,
                                                                           JwsAlgorithm algorithm,
                                                                           absl::string_view what) {
  if (absl::Status s = CheckFits(key->pkey, algorithm, what); !s.ok()) return s;
  std::optional<std::string> jwk = PublicJwk(key->pkey, algorithm);
  if (!jwk) return Invalid(what, "the public key cannot be read (", OpenSslReason(), ")");
  absl::StatusOr<std::unique_ptr<KeySigner>> signer = KeySigner::Create(key->pkey, algorithm);
  if (!signer.ok()) return signer.status();
  std::unique_ptr<JwsPrivateKey> out(new JwsPrivateKey(std::move(key), algorithm));
  out->public_jwk_ = *std::move(jwk);
  out->signer_ = *std::move(signer);
  // One signature now, so that a key OpenSSL loads but cannot sign with is a
  // construction error, not a failure at its first use.
  if (absl::StatusOr<std::string> probe = out->Sign("probe"); !probe.ok()) {
    return Invalid(what, "the key cannot sign: ", probe.status().message());
  }
  return std::unique_ptr<const JwsPrivateKey>(std::move(out));
}

absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> JwsPrivateKey::FromPem(
    absl::string_view pem, JwsAlgorithm algorithm, absl::string_view what) {
  absl::StatusOr<Pkey> parsed = ParsePrivateKey(pem, what);
  if (!parsed.ok()) return parsed.status();
  auto key = std::make_unique<Key>();
  key->pkey = parsed->release();
  return Finish(std::move(key), algorithm, what);
}

absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> JwsPrivateKey::Generate(
    JwsAlgorithm algorithm) {
  ERR_clear_error();
  auto key = std::make_unique<Key>();
  switch (algorithm) {
    case JwsAlgorithm::kES256:
      key->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case JwsAlgorithm::kEdDSA:
      key->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case JwsAlgorithm::kRS256:
    case JwsAlgorithm::kPS256:
      key->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(kMinRsaBits));
      break;
  }
  if (key->pkey == nullptr) {
    return absl::InternalError(absl::StrCat("generating a ", JwsAlgorithmName(algorithm),
                                            " key failed: ", OpenSslReason()));
  }
  absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> out =
      Finish(std::move(key), algorithm, "a generated key");
  if (!out.ok()) return absl::InternalError(out.status().message());
  return out;
}

absl::StatusOr<std::string> JwsPrivateKey::Sign(absl::string_view signing_input) const {
  return signer_->Sign(signing_input);
}

absl::StatusOr<JwsPrivateKey::Thumbprints> JwsPrivateKey::CertificateThumbprints(
    absl::string_view certificate_pem, absl::string_view what) const {
  absl::StatusOr<Cert> cert = ParseCertificate(certificate_pem, what);
  if (!cert.ok()) return cert.status();
  if (absl::Status s = CheckBelongs(cert->get(), key_->pkey, what); !s.ok()) return s;
  absl::StatusOr<std::string> sha1 = Thumbprint(cert->get(), EVP_sha1());
  absl::StatusOr<std::string> sha256 = Thumbprint(cert->get(), EVP_sha256());
  if (!sha1.ok()) return sha1.status();
  if (!sha256.ok()) return sha256.status();
  return Thumbprints{*std::move(sha1), *std::move(sha256)};
}

}  // namespace internal
}  // namespace authrefresh
