#include "interceptor/internal/key_signer.h"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "interceptor/internal/openssl_error.h"

namespace authrefresh {
namespace internal {
namespace {

constexpr size_t kEs256PartBytes = 32;  // P-256: r and s, 32 bytes each

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

absl::Status SigningFailed() {
  return absl::InternalError(absl::StrCat("JWS signing failed: ", OpenSslReason()));
}

// OpenSSL gives an ASN.1 DER ECDSA-Sig-Value; JWS wants r || s, each
// left-padded to 32 bytes (RFC 7518 section 3.4).
absl::StatusOr<std::string> RawEcdsaSignature(absl::string_view der_signature) {
  const auto* der = reinterpret_cast<const unsigned char*>(der_signature.data());
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(
      d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(der_signature.size())));
  std::string raw(2 * kEs256PartBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (sig == nullptr || BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, kEs256PartBytes) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + kEs256PartBytes, kEs256PartBytes) < 0) {
    return absl::InternalError(
        absl::StrCat("JWS signing failed: bad ECDSA signature (", OpenSslReason(), ")"));
  }
  return raw;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeySigner>> KeySigner::Create(EVP_PKEY* pkey,
                                                             JwsAlgorithm algorithm) {
  ERR_clear_error();
  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (sha256 == nullptr) {
    return absl::InternalError(absl::StrCat("OpenSSL has no SHA-256: ", OpenSslReason()));
  }
  EVP_PKEY_up_ref(pkey);
  return std::unique_ptr<KeySigner>(new KeySigner(pkey, sha256, algorithm));
}

KeySigner::KeySigner(EVP_PKEY* pkey, EVP_MD* sha256, JwsAlgorithm algorithm)
    : pkey_(pkey), sha256_(sha256), algorithm_(algorithm) {}

KeySigner::~KeySigner() {
  MutexLock lock(&mu_);
  for (EVP_PKEY_CTX* ctx : idle_) EVP_PKEY_CTX_free(ctx);
  EVP_MD_free(sha256_);
  EVP_PKEY_free(pkey_);
}

absl::StatusOr<std::string> KeySigner::Sign(absl::string_view signing_input) {
  return algorithm_ == JwsAlgorithm::kEdDSA ? SignEd25519(signing_input)
                                            : SignDigest(signing_input);
}

EVP_PKEY_CTX* KeySigner::Acquire() {
  {
    MutexLock lock(&mu_);
    if (!idle_.empty()) {
      EVP_PKEY_CTX* ctx = idle_.back();
      idle_.pop_back();
      return ctx;
    }
  }
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_, nullptr));
  if (ctx == nullptr || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), sha256_) != 1) {
    return nullptr;
  }
  if (algorithm_ == JwsAlgorithm::kRS256 &&
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) {
    return nullptr;
  }
  if (algorithm_ == JwsAlgorithm::kPS256 &&
      (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return nullptr;
  }
  return ctx.release();
}

void KeySigner::Release(EVP_PKEY_CTX* ctx) {
  {
    MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdle) {
      idle_.push_back(ctx);
      return;
    }
  }
  EVP_PKEY_CTX_free(ctx);
}

// ES256, RS256, PS256: the SHA-256 digest of the input, signed with a
// context set up once.
absl::StatusOr<std::string> KeySigner::SignDigest(absl::string_view signing_input) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (EVP_Digest(signing_input.data(), signing_input.size(), digest, &digest_length, sha256_,
                 nullptr) != 1) {
    return SigningFailed();
  }
  // The largest signature of the key (a DER ECDSA signature is often a
  // byte or two shorter).
  const int max_size = EVP_PKEY_get_size(pkey_);
  PkeyCtx ctx(Acquire());
  if (ctx == nullptr || max_size <= 0) return SigningFailed();
  std::string signature(static_cast<size_t>(max_size), '\0');
  size_t length = signature.size();
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, digest,
                    digest_length) != 1) {
    return SigningFailed();  // and the context is freed, not reused
  }
  Release(ctx.release());
  signature.resize(length);
  if (algorithm_ == JwsAlgorithm::kES256) return RawEcdsaSignature(signature);
  return signature;
}

// Ed25519 hashes inside the signature (RFC 8032): the whole input goes to
// one EVP_DigestSign, with no digest named.
absl::StatusOr<std::string> KeySigner::SignEd25519(absl::string_view signing_input) {
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, data, signing_input.size()) != 1) {
    return SigningFailed();
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, data,
                     signing_input.size()) != 1) {
    return SigningFailed();
  }
  signature.resize(length);
  return signature;
}

}  // namespace internal
}  // namespace authrefresh
