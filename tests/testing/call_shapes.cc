#include "tests/testing/call_shapes.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"

namespace authrefresh {
namespace testing {
namespace {

constexpr char kSay[] = "/authrefresh.test.Echo/Say";
constexpr char kListen[] = "/authrefresh.test.Echo/Listen";
constexpr char kCollect[] = "/authrefresh.test.Echo/Collect";
constexpr char kChat[] = "/authrefresh.test.Echo/Chat";

std::string Str(const grpc::string_ref& r) { return std::string(r.data(), r.size()); }

void CopyMetadata(const grpc::ClientContext& ctx, Seen* seen) {
  for (const auto& [k, v] : ctx.GetServerInitialMetadata()) {
    seen->initial_metadata.emplace(Str(k), Str(v));
  }
  for (const auto& [k, v] : ctx.GetServerTrailingMetadata()) {
    seen->trailing_metadata.emplace(Str(k), Str(v));
  }
}

test::EchoRequest Request(const CallPlan& plan, int index = 0) {
  test::EchoRequest r;
  r.set_text(index == 0 ? plan.text : absl::StrCat(plan.text, "-", index));
  r.set_count(plan.messages);
  return r;
}

// Waits for `tag` on `cq`; returns its ok.
bool Next(grpc::CompletionQueue* cq, void* tag) {
  void* got = nullptr;
  bool ok = false;
  if (!cq->Next(&got, &ok) || got != tag) std::abort();
  return ok;
}

grpc::ByteBuffer ToBytes(const test::EchoRequest& r) {
  grpc::ByteBuffer out;
  bool own = false;
  if (!grpc::SerializationTraits<test::EchoRequest>::Serialize(r, &out, &own).ok()) {
    std::abort();
  }
  return out;
}

bool FromBytes(grpc::ByteBuffer* in, test::EchoReply* out) {
  return grpc::SerializationTraits<test::EchoReply>::Deserialize(in, out).ok();
}

// ------------------------------------------------------------------- unary

class UnaryReactor final : public grpc::ClientUnaryReactor {
 public:
  void OnDone(const grpc::Status& s) override {
    status = s;
    done.Notify();
  }
  grpc::Status status;
  absl::Notification done;
};

void Unary(const std::shared_ptr<grpc::Channel>& channel, Api api, const CallPlan& plan,
           grpc::ClientContext* ctx, Seen* seen) {
  auto stub = test::Echo::NewStub(channel);
  const test::EchoRequest request = Request(plan);
  test::EchoReply reply;
  switch (api) {
    case Api::kSync:
      seen->status = stub->Say(ctx, request, &reply);
      break;
    case Api::kCallback: {
      UnaryReactor reactor;
      stub->async()->Say(ctx, &request, &reply, &reactor);
      reactor.StartCall();
      reactor.done.WaitForNotification();
      seen->status = reactor.status;
      break;
    }
    case Api::kAsync:
    case Api::kAsyncHeadersFirst: {
      grpc::CompletionQueue cq;
      auto rpc = stub->PrepareAsyncSay(ctx, request, &cq);
      rpc->StartCall();
      int headers = 1, finish = 2;
      if (api == Api::kAsyncHeadersFirst) {
        rpc->ReadInitialMetadata(&headers);
        Next(&cq, &headers);
      }
      rpc->Finish(&reply, &seen->status, &finish);
      Next(&cq, &finish);
      cq.Shutdown();
      break;
    }
    case Api::kGeneric: {
      grpc::GenericStub generic(channel);
      const grpc::ByteBuffer in = ToBytes(request);
      grpc::ByteBuffer out;
      absl::Notification done;
      generic.UnaryCall(ctx, kSay, grpc::StubOptions(), &in, &out, [&](grpc::Status s) {
        seen->status = std::move(s);
        done.Notify();
      });
      done.WaitForNotification();
      if (seen->status.ok() && !FromBytes(&out, &reply)) std::abort();
      break;
    }
  }
  if (seen->status.ok()) seen->replies.push_back(reply);
}

// ----------------------------------------------------------- server stream

class ReadAll final : public grpc::ClientReadReactor<test::EchoReply> {
 public:
  explicit ReadAll(Seen* seen) : seen_(seen) {}
  void OnReadDone(bool ok) override {
    if (!ok) return;
    seen_->replies.push_back(reply_);
    StartRead(&reply_);
  }
  void Begin() {
    StartRead(&reply_);
    StartCall();
  }
  void OnDone(const grpc::Status& s) override {
    seen_->status = s;
    done.Notify();
  }
  absl::Notification done;

 private:
  Seen* const seen_;
  test::EchoReply reply_;
};

// A GenericStub stream of any shape: writes `requests`, reads every reply.
void GenericStream(const std::shared_ptr<grpc::Channel>& channel, const char* method,
                   const std::vector<test::EchoRequest>& requests, grpc::ClientContext* ctx,
                   Seen* seen) {
  grpc::GenericStub generic(channel);
  grpc::CompletionQueue cq;
  auto call = generic.PrepareCall(ctx, method, &cq);
  int tag = 0;
  call->StartCall(&tag);
  bool alive = Next(&cq, &tag);
  for (const test::EchoRequest& r : requests) {
    if (!alive) break;
    call->Write(ToBytes(r), &tag);
    alive = Next(&cq, &tag);
    if (!alive) ++seen->failed_writes;
  }
  if (alive) {
    call->WritesDone(&tag);
    Next(&cq, &tag);
  }
  while (true) {
    grpc::ByteBuffer in;
    call->Read(&in, &tag);
    if (!Next(&cq, &tag)) break;
    test::EchoReply reply;
    if (!FromBytes(&in, &reply)) std::abort();
    seen->replies.push_back(reply);
  }
  call->Finish(&seen->status, &tag);
  Next(&cq, &tag);
  cq.Shutdown();
}

void ServerStream(const std::shared_ptr<grpc::Channel>& channel, Api api, const CallPlan& plan,
                  grpc::ClientContext* ctx, Seen* seen) {
  auto stub = test::Echo::NewStub(channel);
  const test::EchoRequest request = Request(plan);
  switch (api) {
    case Api::kSync: {
      auto reader = stub->Listen(ctx, request);
      test::EchoReply reply;
      while (reader->Read(&reply)) seen->replies.push_back(reply);
      seen->status = reader->Finish();
      break;
    }
    case Api::kCallback: {
      ReadAll reactor(seen);
      stub->async()->Listen(ctx, &request, &reactor);
      reactor.Begin();
      reactor.done.WaitForNotification();
      break;
    }
    case Api::kAsync:
    case Api::kAsyncHeadersFirst: {
      grpc::CompletionQueue cq;
      int tag = 0;
      auto reader = stub->PrepareAsyncListen(ctx, request, &cq);
      reader->StartCall(&tag);
      if (Next(&cq, &tag)) {
        while (true) {
          test::EchoReply reply;
          reader->Read(&reply, &tag);
          if (!Next(&cq, &tag)) break;
          seen->replies.push_back(reply);
        }
      }
      reader->Finish(&seen->status, &tag);
      Next(&cq, &tag);
      cq.Shutdown();
      break;
    }
    case Api::kGeneric:
      GenericStream(channel, kListen, {request}, ctx, seen);
      break;
  }
}

// ----------------------------------------------------------- client stream

class WriteAll final : public grpc::ClientWriteReactor<test::EchoRequest> {
 public:
  WriteAll(std::vector<test::EchoRequest> requests, Seen* seen)
      : requests_(std::move(requests)), seen_(seen) {}
  void Begin() {
    WriteNext();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      ++seen_->failed_writes;
      return;
    }
    WriteNext();
  }
  void OnDone(const grpc::Status& s) override {
    seen_->status = s;
    done.Notify();
  }
  absl::Notification done;

 private:
  void WriteNext() {
    if (next_ < requests_.size()) {
      StartWrite(&requests_[next_++]);
    } else {
      StartWritesDone();
    }
  }
  std::vector<test::EchoRequest> requests_;
  size_t next_ = 0;
  Seen* const seen_;
};

void ClientStream(const std::shared_ptr<grpc::Channel>& channel, Api api, const CallPlan& plan,
                  grpc::ClientContext* ctx, Seen* seen) {
  auto stub = test::Echo::NewStub(channel);
  std::vector<test::EchoRequest> requests;
  for (int i = 0; i < plan.messages; ++i) requests.push_back(Request(plan, i));
  test::EchoReply reply;
  switch (api) {
    case Api::kSync: {
      auto writer = stub->Collect(ctx, &reply);
      for (const auto& r : requests) {
        if (!writer->Write(r)) {
          ++seen->failed_writes;
          break;
        }
      }
      writer->WritesDone();
      seen->status = writer->Finish();
      break;
    }
    case Api::kCallback: {
      WriteAll reactor(requests, seen);
      stub->async()->Collect(ctx, &reply, &reactor);
      reactor.Begin();
      reactor.done.WaitForNotification();
      break;
    }
    case Api::kAsync:
    case Api::kAsyncHeadersFirst: {
      grpc::CompletionQueue cq;
      int tag = 0;
      auto writer = stub->PrepareAsyncCollect(ctx, &reply, &cq);
      writer->StartCall(&tag);
      bool alive = Next(&cq, &tag);
      for (const auto& r : requests) {
        if (!alive) break;
        writer->Write(r, &tag);
        alive = Next(&cq, &tag);
        if (!alive) ++seen->failed_writes;
      }
      if (alive) {
        writer->WritesDone(&tag);
        Next(&cq, &tag);
      }
      writer->Finish(&seen->status, &tag);
      Next(&cq, &tag);
      cq.Shutdown();
      break;
    }
    case Api::kGeneric: {
      GenericStream(channel, kCollect, requests, ctx, seen);
      return;
    }
  }
  if (seen->status.ok()) seen->replies.push_back(reply);
}

// -------------------------------------------------------------------- bidi

class Converse final : public grpc::ClientBidiReactor<test::EchoRequest, test::EchoReply> {
 public:
  Converse(std::vector<test::EchoRequest> requests, Seen* seen)
      : requests_(std::move(requests)), seen_(seen) {}
  void Begin() {
    StartRead(&reply_);
    WriteNext();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      ++seen_->failed_writes;
      return;
    }
    WriteNext();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    seen_->replies.push_back(reply_);
    StartRead(&reply_);
  }
  void OnDone(const grpc::Status& s) override {
    seen_->status = s;
    done.Notify();
  }
  absl::Notification done;

 private:
  void WriteNext() {
    if (next_ < requests_.size()) {
      StartWrite(&requests_[next_++]);
    } else {
      StartWritesDone();
    }
  }
  std::vector<test::EchoRequest> requests_;
  size_t next_ = 0;
  Seen* const seen_;
  test::EchoReply reply_;
};

void Bidi(const std::shared_ptr<grpc::Channel>& channel, Api api, const CallPlan& plan,
          grpc::ClientContext* ctx, Seen* seen) {
  auto stub = test::Echo::NewStub(channel);
  std::vector<test::EchoRequest> requests;
  for (int i = 0; i < plan.messages; ++i) requests.push_back(Request(plan, i));
  switch (api) {
    case Api::kSync: {
      auto stream = stub->Chat(ctx);
      for (const auto& r : requests) {
        if (!stream->Write(r)) {
          ++seen->failed_writes;
          break;
        }
        test::EchoReply reply;
        if (!stream->Read(&reply)) break;
        seen->replies.push_back(reply);
      }
      stream->WritesDone();
      test::EchoReply extra;
      while (stream->Read(&extra)) seen->replies.push_back(extra);
      seen->status = stream->Finish();
      break;
    }
    case Api::kCallback: {
      Converse reactor(requests, seen);
      stub->async()->Chat(ctx, &reactor);
      reactor.Begin();
      reactor.done.WaitForNotification();
      break;
    }
    case Api::kAsync:
    case Api::kAsyncHeadersFirst: {
      grpc::CompletionQueue cq;
      int tag = 0;
      auto stream = stub->PrepareAsyncChat(ctx, &cq);
      stream->StartCall(&tag);
      bool alive = Next(&cq, &tag);
      for (const auto& r : requests) {
        if (!alive) break;
        stream->Write(r, &tag);
        alive = Next(&cq, &tag);
        if (!alive) {
          ++seen->failed_writes;
          break;
        }
        test::EchoReply reply;
        stream->Read(&reply, &tag);
        alive = Next(&cq, &tag);
        if (alive) seen->replies.push_back(reply);
      }
      stream->WritesDone(&tag);
      Next(&cq, &tag);
      while (true) {
        test::EchoReply reply;
        stream->Read(&reply, &tag);
        if (!Next(&cq, &tag)) break;
        seen->replies.push_back(reply);
      }
      stream->Finish(&seen->status, &tag);
      Next(&cq, &tag);
      cq.Shutdown();
      break;
    }
    case Api::kGeneric:
      GenericStream(channel, kChat, requests, ctx, seen);
      break;
  }
}

}  // namespace

std::string Seen::Initial(const std::string& key) const {
  auto it = initial_metadata.find(key);
  return it == initial_metadata.end() ? "" : it->second;
}

std::string Seen::Trailing(const std::string& key) const {
  auto it = trailing_metadata.find(key);
  return it == trailing_metadata.end() ? "" : it->second;
}

std::string CaseName(const CallCase& c) {
  const char* shape = "";
  switch (c.shape) {
    case Shape::kUnary:
      shape = "Unary";
      break;
    case Shape::kServerStream:
      shape = "ServerStream";
      break;
    case Shape::kClientStream:
      shape = "ClientStream";
      break;
    case Shape::kBidi:
      shape = "Bidi";
      break;
  }
  const char* api = "";
  switch (c.api) {
    case Api::kSync:
      api = "Sync";
      break;
    case Api::kCallback:
      api = "Callback";
      break;
    case Api::kAsync:
      api = "Async";
      break;
    case Api::kAsyncHeadersFirst:
      api = "AsyncHeadersFirst";
      break;
    case Api::kGeneric:
      api = "Generic";
      break;
  }
  return absl::StrCat(shape, api);
}

std::vector<CallCase> AllCallCases() {
  std::vector<CallCase> cases;
  for (Shape s : {Shape::kUnary, Shape::kServerStream, Shape::kClientStream, Shape::kBidi}) {
    for (Api a : {Api::kSync, Api::kCallback, Api::kAsync, Api::kGeneric}) {
      cases.push_back({s, a});
    }
  }
  cases.push_back({Shape::kUnary, Api::kAsyncHeadersFirst});
  return cases;
}

Seen RunCall(const std::shared_ptr<grpc::Channel>& channel, const CallCase& c,
             const CallPlan& plan) {
  Seen seen;
  grpc::ClientContext ctx;
  if (plan.prepare) plan.prepare(&ctx);
  switch (c.shape) {
    case Shape::kUnary:
      Unary(channel, c.api, plan, &ctx, &seen);
      break;
    case Shape::kServerStream:
      ServerStream(channel, c.api, plan, &ctx, &seen);
      break;
    case Shape::kClientStream:
      ClientStream(channel, c.api, plan, &ctx, &seen);
      break;
    case Shape::kBidi:
      Bidi(channel, c.api, plan, &ctx, &seen);
      break;
  }
  CopyMetadata(ctx, &seen);
  return seen;
}

}  // namespace testing
}  // namespace authrefresh
