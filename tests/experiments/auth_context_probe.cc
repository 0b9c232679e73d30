// The experiment behind DPoP on calls (issue 24): what a call-credentials
// plugin sees of a call and of its TLS channel in gRPC 1.51, and so what a
// per-call DPoP proof can sign ("htu") and whether it can carry the TLS
// session's channel binding (gRFC L129's exporter value).
//
//   bazel run -c opt //tests/experiments:auth_context_probe
//
// It makes one unary call over TLS to the mock Echo server with a
// non-blocking MetadataCredentialsPlugin that prints, for its one
// invocation, service_url and method_name, and every property of the
// channel's AuthContext: its name and size, and its value for the names
// that hold no key material (certificates are shown by size only).
//
// What it printed on 2026-12-07 (gRPC 1.51.1, Debian 12):
//   service_url: https://127.0.0.1:<port>/authrefresh.test.Echo
//   method_name: Say
//   transport_security_type ssl, x509_subject, x509_common_name,
//   x509_pem_cert, x509_subject_alternative_name (twice), peer_dns, peer_ip,
//   x509_pem_cert_chain, security_level TSI_PRIVACY_AND_INTEGRITY,
//   ssl_session_reused false
// So a proof's htu can be service_url + "/" + method_name, and nothing the
// plugin sees holds a TLS exporter value or session secret: 1.51's public
// API gives no channel binding.

#include <cstdio>
#include <map>
#include <string>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/harness.h"

namespace authrefresh {
namespace {

class Printer final : public grpc::MetadataCredentialsPlugin {
 public:
  bool IsBlocking() const override { return false; }
  grpc::Status GetMetadata(grpc::string_ref service_url, grpc::string_ref method_name,
                           const grpc::AuthContext& context,
                           std::multimap<grpc::string, grpc::string>* metadata) override {
    std::printf("service_url: %.*s\nmethod_name: %.*s\n", static_cast<int>(service_url.size()),
                service_url.data(), static_cast<int>(method_name.size()), method_name.data());
    std::printf("AuthContext (peer identity property: %s):\n",
                context.GetPeerIdentityPropertyName().c_str());
    for (auto it = context.begin(); it != context.end(); ++it) {
      const grpc::AuthProperty p = *it;
      const std::string name(p.first.data(), p.first.size());
      const bool shown = name.find("pem") == std::string::npos;
      std::printf("  %-32s %5zu bytes  %s\n", name.c_str(), p.second.size(),
                  shown ? std::string(p.second.data(), p.second.size()).c_str() : "(not shown)");
    }
    metadata->insert({"authorization", token_});
    return grpc::Status::OK;
  }
  std::string token_;
};

int Run() {
  testing::HarnessOptions options;
  options.servers.tls = true;
  testing::Harness h(options);
  auto plugin = std::make_unique<Printer>();
  plugin->token_ = "Bearer " + h.manager()->CurrentToken().access_token;
  auto call_credentials = grpc::MetadataCredentialsFromPlugin(std::move(plugin));
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = testing::MockServers::TestCaPem();
  auto channel = grpc::CreateChannel(
      h.servers().address(),
      grpc::CompositeChannelCredentials(grpc::SslCredentials(ssl), call_credentials));
  auto stub = test::Echo::NewStub(channel);
  grpc::ClientContext ctx;
  test::EchoRequest request;
  request.set_text("probe");
  test::EchoReply reply;
  const grpc::Status status = stub->Say(&ctx, request, &reply);
  std::printf("call: %s\n", status.ok() ? "OK" : status.error_message().c_str());
  return status.ok() ? 0 : 1;
}

}  // namespace
}  // namespace authrefresh

int main() { return authrefresh::Run(); }
