#include "tests/testing/mock_servers.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/alarm.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "tests/testing/test_certs.h"

namespace authrefresh {
namespace testing {

// ---------------------------------------------------------------- authority

std::string TokenAuthority::SuffixLocked() {
  random_ = random_ * 6364136223846793005ull + 1442695040888963407ull;
  return absl::StrCat(absl::Hex(random_ >> 16, absl::kZeroPad12));
}

std::string TokenAuthority::IssueAccessLocked(absl::Time* expires_at) {
  std::string token = absl::StrCat("at-", ++next_, "-", SuffixLocked());
  *expires_at = absl::Now() + access_ttl_;
  access_[token] = *expires_at;
  issued_.push_back(token);
  return token;
}

std::string TokenAuthority::NewRefreshTokenLocked(int family) {
  std::string token = absl::StrCat("rt-", family, "-", ++next_, "-", SuffixLocked());
  refresh_[token] = RefreshState{family};
  issued_.push_back(token);
  return token;
}

std::vector<std::string> TokenAuthority::AllIssued() {
  absl::MutexLock lock(&mu_);
  return issued_;
}

Token TokenAuthority::Login() {
  absl::MutexLock lock(&mu_);
  Token t;
  t.access_token = IssueAccessLocked(&t.expires_at);
  const int family = ++next_;
  t.refresh_token = NewRefreshTokenLocked(family);
  family_revoked_[family] = false;
  return t;
}

bool TokenAuthority::Accepts(const std::string& access_token) {
  absl::MutexLock lock(&mu_);
  auto it = access_.find(access_token);
  return it != access_.end() && absl::Now() < it->second;
}

void TokenAuthority::RevokeAccessTokens() {
  absl::MutexLock lock(&mu_);
  access_.clear();
}

void TokenAuthority::RevokeRefreshTokens() {
  absl::MutexLock lock(&mu_);
  for (auto& [family, revoked] : family_revoked_) revoked = true;
}

void TokenAuthority::set_advertised_expires_in(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  advertised_expires_in_ = d;
}

void TokenAuthority::set_access_ttl(absl::Duration ttl) {
  absl::MutexLock lock(&mu_);
  access_ttl_ = ttl;
}

grpc::Status TokenAuthority::Grant(const std::string& refresh_token,
                                   v1::TokenResponse* out) {
  absl::MutexLock lock(&mu_);
  auto it = refresh_.find(refresh_token);
  if (it == refresh_.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "invalid_grant: unknown refresh token");
  }
  RefreshState& state = it->second;
  if (family_revoked_[state.family]) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "invalid_grant: refresh token revoked");
  }
  if (state.used && rotation_) {
    // RFC 9700 4.14.2: a rotated refresh token presented again means it
    // leaked; revoke the whole family.
    ++reuse_detected_;
    family_revoked_[state.family] = true;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "invalid_grant: refresh token reuse detected");
  }
  state.used = true;
  ++grants_;
  grant_times_.push_back(absl::Now());
  absl::Time expires_at;
  out->set_access_token(IssueAccessLocked(&expires_at));
  out->set_token_type("Bearer");
  out->set_expires_in(absl::ToInt64Seconds(
      advertised_expires_in_ > absl::ZeroDuration() ? advertised_expires_in_ : access_ttl_));
  const int family = state.family;
  out->set_refresh_token(rotation_ ? NewRefreshTokenLocked(family) : refresh_token);
  return grpc::Status::OK;
}

std::vector<absl::Time> TokenAuthority::grant_times() {
  absl::MutexLock lock(&mu_);
  return grant_times_;
}

void TokenAuthority::set_rotation(bool on) {
  absl::MutexLock lock(&mu_);
  rotation_ = on;
}

int TokenAuthority::reuse_detected() {
  absl::MutexLock lock(&mu_);
  return reuse_detected_;
}

int TokenAuthority::grants() {
  absl::MutexLock lock(&mu_);
  return grants_;
}

// ------------------------------------------------------------ token service

void MockTokenService::FailNext(int n, grpc::Status status) {
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < n; ++i) failures_.push_back(status);
}

void MockTokenService::RespondNext(v1::TokenResponse response) {
  absl::MutexLock lock(&mu_);
  scripted_ = std::move(response);
}

void MockTokenService::Hold() {
  absl::MutexLock lock(&mu_);
  hold_ = true;
}

void MockTokenService::Release() {
  std::vector<Held> held;
  {
    absl::MutexLock lock(&mu_);
    hold_ = false;
    held.swap(held_);
  }
  for (Held& h : held) {
    if (h.context->IsCancelled()) {
      // Its client is gone (a killed process): the grant is never made, as
      // when a server sees the connection drop before it handles a request.
      h.reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    } else {
      Answer(h.reactor, h.refresh_token, h.response);
    }
  }
}

int MockTokenService::held_cancelled() {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const Held& h : held_) n += h.context->IsCancelled();
  return n;
}

void MockTokenService::set_latency(absl::Duration latency) {
  absl::MutexLock lock(&mu_);
  latency_ = latency;
}

int MockTokenService::calls() {
  absl::MutexLock lock(&mu_);
  return calls_;
}

void MockTokenService::AwaitCalls(int n) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return calls_ >= n;
  };
  mu_.Await(absl::Condition(&enough));
}

int MockTokenService::held() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(held_.size());
}

void MockTokenService::AwaitHeld(int n) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(held_.size()) >= n;
  };
  mu_.Await(absl::Condition(&enough));
}

int MockTokenService::calls_with_authorization() {
  absl::MutexLock lock(&mu_);
  return with_authorization_;
}

grpc::ServerUnaryReactor* MockTokenService::Refresh(
    grpc::CallbackServerContext* context, const v1::RefreshRequest* request,
    v1::TokenResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Duration latency;
  {
    absl::MutexLock lock(&mu_);
    ++calls_;
    if (context->client_metadata().count("authorization") > 0) {
      ++with_authorization_;
    }
    if (hold_) {
      held_.push_back(Held{reactor, context, request->refresh_token(), response});
      return reactor;
    }
    latency = latency_;
  }
  if (latency > absl::ZeroDuration()) {
    auto* alarm = new grpc::Alarm();
    alarm->Set(absl::ToChronoTime(absl::Now() + latency),
               [this, alarm, reactor, token = request->refresh_token(),
                response](bool) {
                 Answer(reactor, token, response);
                 delete alarm;
               });
    return reactor;
  }
  Answer(reactor, request->refresh_token(), response);
  return reactor;
}

void MockTokenService::Answer(grpc::ServerUnaryReactor* reactor,
                              const std::string& refresh_token,
                              v1::TokenResponse* response) {
  std::optional<grpc::Status> failure;
  std::optional<v1::TokenResponse> scripted;
  {
    absl::MutexLock lock(&mu_);
    if (!failures_.empty()) {
      failure = failures_.front();
      failures_.pop_front();
    } else if (scripted_) {
      scripted = std::move(scripted_);
      scripted_.reset();
    }
  }
  if (failure) {
    reactor->Finish(*failure);
  } else if (scripted) {
    *response = *scripted;
    reactor->Finish(grpc::Status::OK);
  } else {
    reactor->Finish(authority_->Grant(refresh_token, response));
  }
}

// ----------------------------------------------------------- resource (echo)

void MockEchoService::RejectAll(bool reject) {
  absl::MutexLock lock(&mu_);
  reject_all_ = reject;
}

void MockEchoService::AnswerWith(std::optional<grpc::Status> status,
                                 std::string www_authenticate) {
  absl::MutexLock lock(&mu_);
  answer_ = std::move(status);
  www_authenticate_ = std::move(www_authenticate);
}

void MockEchoService::FailNext(int n, grpc::Status status) {
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < n; ++i) failures_.push_back(status);
}

int MockEchoService::max_attempt() {
  absl::MutexLock lock(&mu_);
  return max_attempt_;
}

int MockEchoService::hits_with_authorization(const std::string& value) {
  absl::MutexLock lock(&mu_);
  auto it = authorizations_.find(value);
  return it == authorizations_.end() ? 0 : it->second;
}

int MockEchoService::hits_with_several_authorizations() {
  absl::MutexLock lock(&mu_);
  return several_authorizations_;
}

void MockEchoService::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
}

void MockEchoService::Resume() {
  absl::MutexLock lock(&mu_);
  paused_ = false;
}

void MockEchoService::AwaitPaused(int n) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return waiting_ >= n;
  };
  mu_.Await(absl::Condition(&enough));
}

int MockEchoService::hits() {
  absl::MutexLock lock(&mu_);
  return hits_;
}

int MockEchoService::leaked_markers() {
  absl::MutexLock lock(&mu_);
  return leaked_markers_;
}

int MockEchoService::rejected() {
  absl::MutexLock lock(&mu_);
  return rejected_;
}

void MockEchoService::AwaitRejected(int n) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return rejected_ >= n;
  };
  mu_.Await(absl::Condition(&enough));
}

int MockEchoService::accepted() {
  absl::MutexLock lock(&mu_);
  return hits_ - rejected_;
}

// gRPC's grpc-previous-rpc-attempts: 0 on a call's first attempt.
static int PreviousAttempts(const grpc::ServerContext& context) {
  auto previous = context.client_metadata().find("grpc-previous-rpc-attempts");
  int n = 0;
  if (previous == context.client_metadata().end() ||
      !absl::SimpleAtoi(absl::string_view(previous->second.data(), previous->second.size()),
                        &n)) {
    return 0;
  }
  return n;
}

grpc::Status MockEchoService::Authorize(grpc::ServerContext* context,
                                        std::string* fingerprint, int* hit) {
  std::string token;
  auto it = context->client_metadata().find("authorization");
  if (it != context->client_metadata().end()) {
    const std::string value(it->second.data(), it->second.size());
    if (absl::StartsWith(value, "Bearer ")) token = value.substr(7);
    // A DPoP-bound token (its proof is not checked here: the benchmarks'
    // server; tests/e2e/dpop_calls_test checks proofs).
    if (absl::StartsWith(value, "DPoP ")) token = value.substr(5);
  }
  {
    absl::MutexLock lock(&mu_);
    ++waiting_;
    auto resumed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !paused_; };
    mu_.Await(absl::Condition(&resumed));
    --waiting_;
  }
  const bool live = !token.empty() && authority_->Accepts(token);
  absl::MutexLock lock(&mu_);
  *hit = ++hits_;
  for (const auto& [key, value] : context->client_metadata()) {
    if (key.starts_with("authrefresh-")) ++leaked_markers_;
  }
  auto [first, last] = context->client_metadata().equal_range("authorization");
  if (std::distance(first, last) > 1) ++several_authorizations_;
  for (auto a = first; a != last; ++a) {
    ++authorizations_[std::string(a->second.data(), a->second.size())];
  }
  const int attempt = PreviousAttempts(*context) + 1;
  max_attempt_ = std::max(max_attempt_, attempt);
  if (!failures_.empty()) {
    grpc::Status failure = failures_.front();
    failures_.pop_front();
    return failure;
  }
  if (answer_) {
    ++rejected_;
    if (!www_authenticate_.empty()) {
      context->AddTrailingMetadata("www-authenticate", www_authenticate_);
    }
    return *answer_;
  }
  if (reject_all_ || !live) {
    ++rejected_;
    context->AddTrailingMetadata("www-authenticate",
                                 "Bearer error=\"invalid_token\"");
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid_token",
                        absl::StrCat("hit-", *hit));
  }
  *fingerprint = TokenFingerprint(token);
  return grpc::Status::OK;
}

grpc::Status MockEchoService::Say(grpc::ServerContext* context,
                                  const test::EchoRequest* request,
                                  test::EchoReply* reply) {
  std::string fingerprint;
  int hit = 0;
  grpc::Status s = Authorize(context, &fingerprint, &hit);
  context->AddTrailingMetadata("x-attempt", std::to_string(hit));
  if (!s.ok()) return s;
  std::string app;
  auto it = context->client_metadata().find("x-app");
  if (it != context->client_metadata().end()) {
    app.assign(it->second.data(), it->second.size());
  }
  context->AddInitialMetadata("x-initial", request->text());
  context->AddTrailingMetadata(
      "x-deadline-set",
      context->deadline() < std::chrono::system_clock::time_point::max() ? "yes"
                                                                         : "no");
  reply->set_text(absl::StrCat(request->text(), "|x-app=", app));
  reply->set_authorization(fingerprint);
  const grpc::string_ref authority = context->ExperimentalGetAuthority();
  reply->set_authority(std::string(authority.data(), authority.size()));
  if (context->deadline() < std::chrono::system_clock::time_point::max()) {
    reply->set_deadline_unix_ms(absl::ToUnixMillis(absl::FromChrono(context->deadline())));
  }
  reply->set_previous_attempts(PreviousAttempts(*context));
  reply->set_request_padding_bytes(static_cast<int64_t>(request->padding().size()));
  return grpc::Status::OK;
}

grpc::Status MockEchoService::Listen(grpc::ServerContext* context,
                                     const test::EchoRequest* request,
                                     grpc::ServerWriter<test::EchoReply>* writer) {
  std::string fingerprint;
  int hit = 0;
  grpc::Status s = Authorize(context, &fingerprint, &hit);
  context->AddTrailingMetadata("x-attempt", std::to_string(hit));
  if (!s.ok()) return s;
  context->AddInitialMetadata("x-initial", request->text());
  auto rejection = [context] {
    context->AddTrailingMetadata("www-authenticate",
                                 "Bearer error=\"invalid_token\"");
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "revoked mid-stream");
  };
  if (request->has_reject_after() && request->reject_after() == 0) {
    if (!request->challenge_in_headers().empty()) {
      context->AddInitialMetadata("www-authenticate", request->challenge_in_headers());
      writer->SendInitialMetadata();
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "headers first");
    }
    writer->SendInitialMetadata();
    return rejection();
  }
  const std::string padding(request->reply_padding(), 'p');
  grpc::Status result = grpc::Status::OK;
  for (int i = 0; i < request->count(); ++i) {
    if (request->has_hold_after() && i == request->hold_after()) {
      absl::MutexLock lock(&mu_);
      ++held_streams_;
      auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return streams_released_;
      };
      mu_.Await(absl::Condition(&released));
      --held_streams_;
    }
    if (request->has_reject_after() && i == request->reject_after()) {
      result = rejection();
      break;
    }
    test::EchoReply reply;
    reply.set_text(request->text());
    reply.set_index(i);
    reply.set_authorization(fingerprint);
    reply.set_padding(padding);
    if (!writer->Write(reply)) {
      absl::MutexLock lock(&mu_);
      ++broken_streams_;
      break;
    }
  }
  absl::MutexLock lock(&mu_);
  ++streams_ended_;
  return result;
}

void MockEchoService::ReleaseStreams() {
  absl::MutexLock lock(&mu_);
  streams_released_ = true;
}

void MockEchoService::AwaitHeldStreams(int n) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return held_streams_ >= n;
  };
  mu_.Await(absl::Condition(&enough));
}

int MockEchoService::broken_streams() {
  absl::MutexLock lock(&mu_);
  return broken_streams_;
}

void MockEchoService::AwaitStreamsEnded(int n) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return streams_ended_ >= n;
  };
  mu_.Await(absl::Condition(&enough));
}

grpc::Status MockEchoService::Collect(grpc::ServerContext* context,
                                      grpc::ServerReader<test::EchoRequest>* reader,
                                      test::EchoReply* reply) {
  std::string fingerprint;
  int hit = 0;
  grpc::Status s = Authorize(context, &fingerprint, &hit);
  context->AddTrailingMetadata("x-attempt", std::to_string(hit));
  if (!s.ok()) return s;
  test::EchoRequest request;
  int n = 0;
  while (reader->Read(&request)) ++n;
  reply->set_index(n);
  reply->set_authorization(fingerprint);
  return grpc::Status::OK;
}

grpc::Status MockEchoService::Chat(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<test::EchoReply, test::EchoRequest>* stream) {
  std::string fingerprint;
  int hit = 0;
  grpc::Status s = Authorize(context, &fingerprint, &hit);
  context->AddTrailingMetadata("x-attempt", std::to_string(hit));
  if (!s.ok()) return s;
  test::EchoRequest request;
  int i = 0;
  while (stream->Read(&request)) {
    test::EchoReply reply;
    reply.set_text(request.text());
    reply.set_index(i++);
    reply.set_authorization(fingerprint);
    stream->Write(reply);
  }
  return grpc::Status::OK;
}

// --------------------------------------------------------------- unparsable

class UnparsableServer::Service final : public grpc::CallbackGenericService {
 public:
  explicit Service(std::atomic<int>* calls) : calls_(calls) {}
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext*) override {
    ++*calls_;
    return new Reactor();
  }

 private:
  // Reads the request, answers bytes that no message parses (a field with
  // an invalid wire type), finishes OK.
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    Reactor() { StartRead(&request_); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
        return;
      }
      static const char kGarbage[] = "\x0f\xff\xff\xff\xff";
      grpc::Slice slice(kGarbage, sizeof(kGarbage) - 1);
      response_ = grpc::ByteBuffer(&slice, 1);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

   private:
    grpc::ByteBuffer request_;
    grpc::ByteBuffer response_;
  };
  std::atomic<int>* calls_;
};

UnparsableServer::UnparsableServer()
    : service_(std::make_unique<Service>(&calls_)) {
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterCallbackGenericService(service_.get());
  server_ = builder.BuildAndStart();
  address_ = absl::StrCat("127.0.0.1:", port);
}

UnparsableServer::~UnparsableServer() {
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

// ------------------------------------------------------------------ servers

void KeepCallbackQueueAlive() {
  static const auto* const keeper = [] {
    // A channel that has made one callback-API call holds gRPC's
    // process-wide callback queue until the channel is destroyed; this one
    // never is. Nothing listens on port 1: the call fails at once.
    auto* channel = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
    grpc::GenericStub stub(*channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Slice empty("", 0);
    grpc::ByteBuffer request(&empty, 1);  // a default ByteBuffer is no message
    grpc::ByteBuffer response;
    absl::Notification done;
    stub.UnaryCall(&context, "/keep.Alive/Call", grpc::StubOptions(), &request,
                   &response, [&done](grpc::Status) { done.Notify(); });
    done.WaitForNotification();
    return channel;
  }();
  (void)keeper;
}

MockServers::MockServers(Options options)
    : own_authority_(options.access_ttl),
      authority_(options.authority != nullptr ? options.authority : &own_authority_),
      tokens_(authority_),
      echo_(authority_) {
  KeepCallbackQueueAlive();
  tokens_.set_latency(options.tokens_latency);
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (options.tls) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({kTestServerKeyPem, kTestServerCertPem});
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", options.port), credentials, &port);
  builder.RegisterService(&tokens_);
  builder.RegisterService(&echo_);
  server_ = builder.BuildAndStart();
  port_ = port;
  address_ = absl::StrCat("127.0.0.1:", port);
}

MockServers::~MockServers() {
  tokens_.Release();
  echo_.Resume();
  echo_.ReleaseStreams();
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

std::string MockServers::TestCaPem() { return kTestCaPem; }

}  // namespace testing
}  // namespace authrefresh
