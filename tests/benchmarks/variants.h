// tests/benchmarks/variants.h
//
// The channels the benchmarks compare, over the same in-process servers on
// 127.0.0.1, all sending the same `authorization` header:
//   A  a plain channel; the application adds the header itself (the floor)
//   B  a trivial interceptor that only adds the header at
//      PRE_SEND_INITIAL_METADATA (the floor for any interceptor)
//   H  a bare hijack-and-forward interceptor: takes every call over and
//      sends it as a second call on the intercepted channel, and does nothing
//      else (the floor for any design that can replay a unary call in gRPC
//      1.51, where replaying needs the call hijacked)
//   P  the floor of authrefresh's design: an interceptor that gives each
//      call pooled asynchronous-plugin credentials which return a fixed
//      header, on a channel with the same UNAUTHENTICATED retry policy; no
//      token logic at all
//   C  authrefresh (per-call credentials, replay by gRPC core's retry)
//   S  C with its refresher shared between replicas (file-lock backend)
//   M  C with metrics on (the Prometheus adapter on a registry)
//   D  gRPC call credentials carrying the token (AccessTokenCredentials)
//   E  C with a DPoP-bound token (ES256): `authorization: DPoP <token>` and
//      a new `dpop` proof per call (the server does not check the proof;
//      tests/e2e/dpop_calls_test does)
//   F  E with an EdDSA (Ed25519) key
//   G  C with the application adding a fixed `dpop` header of E's size (a
//      real ES256 proof made once): what the header alone costs to send and
//      receive, without signing, so that E - G is the proof's own work
// A and C also over TLS ("/tls"), beside D, E, F and G, which need TLS. H is kept
// beside them as the floor of the previous design, which hijacked calls.

#ifndef AUTHREFRESH_TESTS_BENCHMARKS_VARIANTS_H_
#define AUTHREFRESH_TESTS_BENCHMARKS_VARIANTS_H_

#include <memory>
#include <string>
#include <vector>

#include "interceptor/authrefresh.h"
#include "prometheus/registry.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/mock_servers.h"

namespace authrefresh {
namespace bench {

enum Variant { kA, kB, kH, kP, kC, kS, kM, kATls, kCTls, kDTls, kETls, kFTls, kGTls, kVariantCount };

const char* VariantName(Variant v);

class Variants {
 public:
  Variants();
  test::Echo::Stub& stub(Variant v) { return *stubs_[v]; }
  // Whether the application adds the header itself (A).
  static bool AppAddsHeader(Variant v) { return v == kA || v == kATls || v == kH; }
  // G's fixed proof, which the application adds as `dpop` (empty for the
  // other variants).
  const std::string& fixed_proof(Variant v) const { return v == kGTls ? fixed_proof_ : none_; }
  // "Bearer <token>" of the variant's server (each server has its own login).
  const std::string& header(Variant v) const { return v >= kATls ? tls_header_ : header_; }

 private:
  testing::MockServers plain_servers_;
  testing::MockServers tls_servers_;
  std::string header_, tls_header_, fixed_proof_, none_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<TokenManager> manager_, shared_manager_, metrics_manager_, tls_manager_;
  std::shared_ptr<TokenManager> es256_manager_, eddsa_manager_;
  std::string shared_file_;
  std::vector<std::unique_ptr<test::Echo::Stub>> stubs_;
};

// One unary call, sync API, with the header when the variant needs it.
grpc::Status SyncSay(Variants& v, Variant which, const test::EchoRequest& request);
// One unary call, callback API, waiting for its completion.
grpc::Status CallbackSay(Variants& v, Variant which, const test::EchoRequest& request);

}  // namespace bench
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_BENCHMARKS_VARIANTS_H_
