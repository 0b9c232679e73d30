#include "tests/benchmarks/variants.h"

#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "grpc/grpc_security.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/client_callback.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_interceptor.h"
#include "interceptor/prometheus_metrics.h"
#include "interceptor/shared_token.h"

namespace authrefresh {
namespace bench {
namespace {

class HeaderOnly final : public grpc::experimental::Interceptor {
 public:
  explicit HeaderOnly(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      m->GetSendInitialMetadata()->emplace("authorization", *header_);
    }
    m->Proceed();
  }

 private:
  const std::string* header_;
};

class HeaderOnlyFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit HeaderOnlyFactory(std::string header) : header_(std::move(header)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new HeaderOnly(&header_);
  }

 private:
  std::string header_;
};

// H: hijack in the first batch, forward the request bytes and metadata as a
// callback call of its own on the intercepted channel, and hand its
// response, metadata and status to the application's batch. Sync and
// callback unary calls send one batch, which carries every receive op.
class Forward final : public grpc::experimental::Interceptor,
                      public grpc::ClientUnaryReactor {
 public:
  explicit Forward(grpc::experimental::ClientRpcInfo* info) : info_(info) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    using grpc::experimental::InterceptionHookPoints;
    if (!hijacked_ &&
        m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      hijacked_ = true;
      request_.Swap(m->GetSerializedSendMessage());
      for (const auto& [k, v] : *m->GetSendInitialMetadata()) ctx_.AddMetadata(k, v);
      ctx_.set_deadline(info_->client_context()->deadline());
      std::unique_ptr<grpc::ChannelInterface> channel = m->GetInterceptedChannel();
      m->Hijack();  // re-enters with the receive hook points: `receiver_`
      grpc::internal::ClientCallbackUnaryFactory::Create<grpc::ByteBuffer, grpc::ByteBuffer>(
          channel.get(),
          grpc::internal::RpcMethod(info_->method(), grpc::internal::RpcMethod::NORMAL_RPC),
          &ctx_, &request_, &response_, this);
      StartCall();
      return;
    }
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_RECV_STATUS)) {
      receiver_ = m;
      return;
    }
    m->Proceed();
  }

  void OnDone(const grpc::Status& status) override {
    grpc::experimental::InterceptorBatchMethods* m = receiver_;
    bool parsed = false;
    if (status.ok()) {
      parsed = grpc::SerializationTraits<grpc::protobuf::MessageLite>::Deserialize(
                   &response_, static_cast<grpc::protobuf::MessageLite*>(m->GetRecvMessage()))
                   .ok();
    }
    if (!parsed) m->FailHijackedRecvMessage();
    for (const auto& [k, v] : ctx_.GetServerInitialMetadata()) {
      m->GetRecvInitialMetadata()->emplace(k, v);
    }
    for (const auto& [k, v] : ctx_.GetServerTrailingMetadata()) {
      m->GetRecvTrailingMetadata()->emplace(k, v);
    }
    *m->GetRecvStatus() = status;
    m->Proceed();  // last: the application may now free its context, and us
  }

 private:
  grpc::experimental::ClientRpcInfo* const info_;
  bool hijacked_ = false;
  grpc::ClientContext ctx_;
  grpc::ByteBuffer request_, response_;
  grpc::experimental::InterceptorBatchMethods* receiver_ = nullptr;
};

class ForwardFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new Forward(info);
  }
};

// P: per-call credentials from a pool, each attempt answered at once with a
// fixed header: what any design that replays through gRPC core pays.
class FixedHeaderCredentials {
 public:
  explicit FixedHeaderCredentials(std::string header) : header_(std::move(header)) {}
  ~FixedHeaderCredentials() {
    for (grpc_call_credentials* c : idle_) grpc_call_credentials_release(c);
  }
  grpc_call_credentials* Take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        grpc_call_credentials* c = idle_.back();
        idle_.pop_back();
        return c;
      }
    }
    grpc_metadata_credentials_plugin plugin{};
    plugin.get_metadata = &FixedHeaderCredentials::GetMetadata;
    plugin.state = this;
    plugin.type = "fixed";
    return grpc_metadata_credentials_create_from_plugin(plugin, GRPC_SECURITY_NONE, nullptr);
  }
  void GiveBack(grpc_call_credentials* c) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(c);
  }

 private:
  static int GetMetadata(void* state, grpc_auth_metadata_context,
                         grpc_credentials_plugin_metadata_cb, void*,
                         grpc_metadata creds_md[GRPC_METADATA_CREDENTIALS_PLUGIN_SYNC_MAX],
                         size_t* num_creds_md, grpc_status_code* status,
                         const char** error_details) {
    auto* self = static_cast<FixedHeaderCredentials*>(state);
    creds_md[0].key = grpc_slice_from_static_string("authorization");
    creds_md[0].value =
        grpc_slice_from_static_buffer(self->header_.data(), self->header_.size());
    *num_creds_md = 1;
    *status = GRPC_STATUS_OK;
    *error_details = nullptr;
    return 1;
  }
  const std::string header_;
  std::mutex mu_;
  std::vector<grpc_call_credentials*> idle_;
};

class PluginOnly final : public grpc::experimental::Interceptor {
 public:
  PluginOnly(FixedHeaderCredentials* pool, grpc::experimental::ClientRpcInfo* info)
      : pool_(pool), info_(info) {}
  ~PluginOnly() override {
    if (creds_ != nullptr) pool_->GiveBack(creds_);
  }
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      creds_ = pool_->Take();
      grpc_call_set_credentials(info_->client_context()->c_call(), creds_);
    }
    m->Proceed();
  }

 private:
  FixedHeaderCredentials* const pool_;
  grpc::experimental::ClientRpcInfo* const info_;
  grpc_call_credentials* creds_ = nullptr;
};

class PluginOnlyFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit PluginOnlyFactory(std::string header) : pool_(std::move(header)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new PluginOnly(&pool_, info);
  }

 private:
  FixedHeaderCredentials pool_;
};

// The token service's grants bound to `key`, as a DPoP token service binds
// them (the mock issues bearer tokens, and its echo service takes either).
class DpopBoundRefresher final : public TokenRefresher {
 public:
  DpopBoundRefresher(std::unique_ptr<TokenRefresher> inner, std::shared_ptr<const DpopKey> key)
      : inner_(std::move(inner)), key_(std::move(key)) {}
  void Refresh(const GrantRequest& request, Done done) override {
    inner_->Refresh(request, [done = std::move(done), jkt = key_->thumbprint()](
                                 absl::StatusOr<Token> token) {
      if (token.ok()) token->dpop_jkt = jkt;
      done(std::move(token));
    });
  }
  std::shared_ptr<const DpopKey> dpop_key() const override { return key_; }

 private:
  const std::unique_ptr<TokenRefresher> inner_;
  const std::shared_ptr<const DpopKey> key_;
};

testing::MockServers::Options Tls() {
  testing::MockServers::Options o;
  o.tls = true;
  return o;
}

std::shared_ptr<grpc::ChannelCredentials> TlsCredentials() {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = testing::MockServers::TestCaPem();
  return grpc::SslCredentials(ssl);
}

}  // namespace

const char* VariantName(Variant v) {
  switch (v) {
    case kA: return "A plain";
    case kB: return "B trivial interceptor";
    case kH: return "H hijack-and-forward";
    case kP: return "P per-call plugin floor";
    case kC: return "C authrefresh";
    case kS: return "S authrefresh, shared refresher";
    case kM: return "M authrefresh, Prometheus metrics";
    case kATls: return "A plain /tls";
    case kCTls: return "C authrefresh /tls";
    case kDTls: return "D call credentials /tls";
    case kETls: return "E authrefresh DPoP ES256 /tls";
    case kFTls: return "F authrefresh DPoP EdDSA /tls";
    case kGTls: return "G authrefresh + fixed dpop /tls";
    default: return "?";
  }
}

Variants::Variants() : tls_servers_(Tls()) {
  // Each server has its own authority and login; the tokens have the same
  // length, so every variant sends the same number of header bytes.
  const Token token = plain_servers_.authority().Login();
  const Token tls_token = tls_servers_.authority().Login();
  header_ = "Bearer " + token.access_token;
  stubs_.resize(kVariantCount);
  const auto insecure = grpc::InsecureChannelCredentials();
  const std::string plain = plain_servers_.address(), tls = tls_servers_.address();

  stubs_[kA] = test::Echo::NewStub(grpc::CreateChannel(plain, insecure));
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> f;
  f.push_back(std::make_unique<HeaderOnlyFactory>(header_));
  stubs_[kB] = test::Echo::NewStub(grpc::experimental::CreateCustomChannelWithInterceptors(
      plain, insecure, grpc::ChannelArguments(), std::move(f)));
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> h;
  h.push_back(std::make_unique<ForwardFactory>());
  stubs_[kH] = test::Echo::NewStub(grpc::experimental::CreateCustomChannelWithInterceptors(
      plain, insecure, grpc::ChannelArguments(), std::move(h)));

  manager_ = TokenManager::Create(
      token, MakeGrpcTokenRefresher(grpc::CreateChannel(plain, insecure)));
  tls_manager_ = TokenManager::Create(
      tls_token, MakeGrpcTokenRefresher(grpc::CreateChannel(tls, TlsCredentials())));
  InterceptorOptions loopback;
  loopback.allow_insecure_transport = true;  // loopback benchmark
  {
    // P gets the same arguments (the merged service config) as C.
    absl::StatusOr<AuthRefreshChannelSetup> setup =
        MakeAuthRefreshChannelSetup(manager_, loopback);
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> pf;
    pf.push_back(std::make_unique<PluginOnlyFactory>(header_));
    stubs_[kP] = test::Echo::NewStub(grpc::experimental::CreateCustomChannelWithInterceptors(
        plain, insecure, setup->args, std::move(pf)));
  }
  stubs_[kC] = test::Echo::NewStub(CreateAuthRefreshChannel(plain, insecure, manager_, loopback));
  // S: C with its refresher wrapped for sharing between replicas (the
  // file-lock backend): the call path must not notice.
  shared_file_ = absl::StrCat("/tmp/authrefresh-variants-", getpid());
  shared_manager_ = TokenManager::Create(
      plain_servers_.authority().Login(),
      *MakeSharedTokenRefresher(MakeGrpcTokenRefresher(grpc::CreateChannel(plain, insecure)),
                                MakeFileLockBackend(shared_file_)));
  stubs_[kS] =
      test::Echo::NewStub(CreateAuthRefreshChannel(plain, insecure, shared_manager_, loopback));

  // M: C with the Prometheus adapter; its own login, same token length.
  registry_ = std::make_shared<prometheus::Registry>();
  TokenManagerOptions with_metrics;
  with_metrics.metrics = {*MakePrometheusMetrics(registry_), "bench"};
  metrics_manager_ = TokenManager::Create(
      plain_servers_.authority().Login(),
      MakeGrpcTokenRefresher(grpc::CreateChannel(plain, insecure)), with_metrics);
  stubs_[kM] =
      test::Echo::NewStub(CreateAuthRefreshChannel(plain, insecure, metrics_manager_, loopback));

  InterceptorOptions tls_default;
  stubs_[kATls] = test::Echo::NewStub(grpc::CreateChannel(tls, TlsCredentials()));
  stubs_[kCTls] = test::Echo::NewStub(
      CreateAuthRefreshChannel(tls, TlsCredentials(), tls_manager_, tls_default));
  stubs_[kDTls] = test::Echo::NewStub(grpc::CreateChannel(
      tls, grpc::CompositeChannelCredentials(
               TlsCredentials(), grpc::AccessTokenCredentials(tls_token.access_token))));
  tls_header_ = "Bearer " + tls_token.access_token;

  // E and F: DPoP-bound tokens of the same length.
  for (auto [variant, algorithm, manager] :
       {std::tuple{kETls, DpopKey::Algorithm::kES256, &es256_manager_},
        std::tuple{kFTls, DpopKey::Algorithm::kEdDSA, &eddsa_manager_}}) {
    std::shared_ptr<const DpopKey> key = *DpopKey::Generate(algorithm);
    Token bound = tls_servers_.authority().Login();
    bound.dpop_jkt = key->thumbprint();
    *manager = TokenManager::Create(
        bound, std::make_unique<DpopBoundRefresher>(
                   MakeGrpcTokenRefresher(grpc::CreateChannel(tls, TlsCredentials())), key));
    stubs_[variant] = test::Echo::NewStub(
        CreateAuthRefreshChannel(tls, TlsCredentials(), *manager, tls_default));
    if (variant == kETls) {
      // G's header: a proof as E's calls carry (the same key type, target
      // and token length), made once.
      fixed_proof_ = *key->Proof({.method = "POST",
                                  .uri = absl::StrCat("https://", tls, "/authrefresh.test.Echo/Say"),
                                  .issued_at = absl::Now(),
                                  .access_token = bound.access_token});
    }
  }
  stubs_[kGTls] = test::Echo::NewStub(
      CreateAuthRefreshChannel(tls, TlsCredentials(), tls_manager_, tls_default));
}

grpc::Status SyncSay(Variants& v, Variant which, const test::EchoRequest& request) {
  grpc::ClientContext ctx;
  if (Variants::AppAddsHeader(which)) ctx.AddMetadata("authorization", v.header(which));
  if (!v.fixed_proof(which).empty()) ctx.AddMetadata("dpop", v.fixed_proof(which));
  test::EchoReply reply;
  return v.stub(which).Say(&ctx, request, &reply);
}

grpc::Status CallbackSay(Variants& v, Variant which, const test::EchoRequest& request) {
  grpc::ClientContext ctx;
  if (Variants::AppAddsHeader(which)) ctx.AddMetadata("authorization", v.header(which));
  if (!v.fixed_proof(which).empty()) ctx.AddMetadata("dpop", v.fixed_proof(which));
  test::EchoReply reply;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  v.stub(which).async()->Say(&ctx, &request, &reply, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
    done = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  return status;
}

}  // namespace bench
}  // namespace authrefresh
