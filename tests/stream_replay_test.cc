// End to end: server-streaming calls replayed before the commit point, for
// each reader shape (sync ClientReader, completion-queue ClientAsyncReader,
// callback ClientReadReactor); rejections after the commit point; bounded
// read-ahead; cancellation and deadlines at every point; client-streaming
// and bidi calls sharing the one refresh with everything else.

#include <atomic>
#include <map>
#include <random>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "tests/testing/harness.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::testing::HasSubstr;
using ::testing::Lt;
using testing::Harness;
using testing::HarnessOptions;
using testing::IsOk;
using testing::StatusIs;

// What the application saw of one stream.
struct Seen {
  grpc::Status status;
  std::vector<test::EchoReply> replies;
  std::multimap<std::string, std::string> initial_metadata;
  std::multimap<std::string, std::string> trailing_metadata;

  // The replies' indexes are 0, 1, 2, ... and all carry `fingerprint`.
  void ExpectInOrder(int n, const std::string& fingerprint) const {
    ASSERT_EQ(static_cast<int>(replies.size()), n);
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(replies[i].index(), i);
      ASSERT_EQ(replies[i].authorization(), fingerprint);
    }
  }
  std::string Initial(const std::string& key) const {
    auto it = initial_metadata.find(key);
    return it == initial_metadata.end() ? "" : it->second;
  }
  std::string Trailing(const std::string& key) const {
    auto it = trailing_metadata.find(key);
    return it == trailing_metadata.end() ? "" : it->second;
  }
};

std::multimap<std::string, std::string> Own(
    const std::multimap<grpc::string_ref, grpc::string_ref>& m) {
  std::multimap<std::string, std::string> out;
  for (const auto& [k, v] : m) {
    out.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
  }
  return out;
}

test::EchoRequest Listen(const std::string& text, int count) {
  test::EchoRequest request;
  request.set_text(text);
  request.set_count(count);
  return request;
}

// The sync API.
Seen ReadSync(test::Echo::Stub& stub, const test::EchoRequest& request,
              grpc::ClientContext* ctx = nullptr) {
  grpc::ClientContext own;
  if (ctx == nullptr) ctx = &own;
  Seen seen;
  auto reader = stub.Listen(ctx, request);
  test::EchoReply reply;
  while (reader->Read(&reply)) seen.replies.push_back(reply);
  seen.status = reader->Finish();
  seen.initial_metadata = Own(ctx->GetServerInitialMetadata());
  seen.trailing_metadata = Own(ctx->GetServerTrailingMetadata());
  return seen;
}

// The completion-queue API, driven by this thread: headers first, then reads
// until one fails, then Finish.
Seen ReadAsync(test::Echo::Stub& stub, const test::EchoRequest& request) {
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  Seen seen;
  void* tag = nullptr;
  bool ok = false;
  auto reader = stub.AsyncListen(&ctx, request, &cq, reinterpret_cast<void*>(1));
  EXPECT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, reinterpret_cast<void*>(1));
  reader->ReadInitialMetadata(reinterpret_cast<void*>(2));
  EXPECT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, reinterpret_cast<void*>(2));
  for (;;) {
    test::EchoReply reply;
    reader->Read(&reply, reinterpret_cast<void*>(3));
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, reinterpret_cast<void*>(3));
    if (!ok) break;
    seen.replies.push_back(reply);
  }
  reader->Finish(&seen.status, reinterpret_cast<void*>(4));
  EXPECT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, reinterpret_cast<void*>(4));
  seen.initial_metadata = Own(ctx.GetServerInitialMetadata());
  seen.trailing_metadata = Own(ctx.GetServerTrailingMetadata());
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return seen;
}

// The callback API: a ClientReadReactor that reads until the end.
class CallbackReader final : public grpc::ClientReadReactor<test::EchoReply> {
 public:
  // Reads at most `max_reads` messages, then stops reading (a reader that
  // has stalled).
  CallbackReader(test::Echo::Stub& stub, const test::EchoRequest& request,
                 int max_reads = -1,
                 std::chrono::system_clock::time_point deadline =
                     std::chrono::system_clock::time_point::max())
      : max_reads_(max_reads) {
    ctx_.set_deadline(deadline);
    stub.async()->Listen(&ctx_, &request, this);
    StartRead(&reply_);
    StartCall();
  }
  void OnReadInitialMetadataDone(bool ok) override {
    headers_ok_ = ok;
    initial_ = Own(ctx_.GetServerInitialMetadata());
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    replies_.push_back(reply_);
    if (max_reads_ < 0 || static_cast<int>(replies_.size()) < max_reads_) {
      StartRead(&reply_);
    }
  }
  void OnDone(const grpc::Status& status) override {
    status_ = status;
    done_.Notify();
  }
  Seen Wait() {
    done_.WaitForNotification();
    Seen seen;
    seen.status = status_;
    seen.replies = replies_;
    seen.initial_metadata = initial_;
    seen.trailing_metadata = Own(ctx_.GetServerTrailingMetadata());
    return seen;
  }
  grpc::ClientContext& context() { return ctx_; }
  bool headers_ok() const { return headers_ok_; }

 private:
  const int max_reads_;
  grpc::ClientContext ctx_;
  test::EchoReply reply_;
  std::vector<test::EchoReply> replies_;
  std::multimap<std::string, std::string> initial_;
  bool headers_ok_ = false;
  grpc::Status status_;
  absl::Notification done_;
};

Seen ReadCallback(test::Echo::Stub& stub, const test::EchoRequest& request) {
  CallbackReader reader(stub, request);
  return reader.Wait();
}

enum class Shape { kSync, kAsync, kCallback };

class EveryReader : public ::testing::TestWithParam<Shape> {
 protected:
  Seen Read(test::Echo::Stub& stub, const test::EchoRequest& request) {
    switch (GetParam()) {
      case Shape::kSync:
        return ReadSync(stub, request);
      case Shape::kAsync:
        return ReadAsync(stub, request);
      case Shape::kCallback:
        return ReadCallback(stub, request);
    }
    return {};
  }
};

INSTANTIATE_TEST_SUITE_P(Shapes, EveryReader,
                         ::testing::Values(Shape::kSync, Shape::kAsync,
                                           Shape::kCallback),
                         [](const ::testing::TestParamInfo<Shape>& info) {
                           switch (info.param) {
                             case Shape::kSync:
                               return "Sync";
                             case Shape::kAsync:
                               return "CompletionQueue";
                             case Shape::kCallback:
                               return "Callback";
                           }
                           return "";
                         });

TEST_P(EveryReader, ValidTokenStreamsOnceWithoutARefresh) {
  Harness h;
  Seen seen = Read(h.stub(), Listen("v", 5));
  ASSERT_THAT(seen.status, IsOk());
  seen.ExpectInOrder(5, h.CurrentFingerprint());
  EXPECT_EQ(seen.Initial("x-initial"), "v");
  EXPECT_EQ(seen.Trailing("x-attempt"), "1");
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.tokens().calls(), 0);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
}

TEST_P(EveryReader, RejectedStreamIsReplayedOnceAfterOneRefresh) {
  Harness h;
  const std::string old_fingerprint = h.CurrentFingerprint();
  h.authority().RevokeAccessTokens();
  Seen seen = Read(h.stub(), Listen("r", 5));
  ASSERT_THAT(seen.status, IsOk());
  ASSERT_NE(h.CurrentFingerprint(), old_fingerprint);
  seen.ExpectInOrder(5, h.CurrentFingerprint());
  // Only the replay's metadata reaches the application.
  EXPECT_EQ(seen.Initial("x-initial"), "r");
  EXPECT_EQ(seen.Trailing("x-attempt"), "2");
  EXPECT_EQ(seen.trailing_metadata.count("www-authenticate"), 0u);
  EXPECT_EQ(h.echo().hits(), 2);
  EXPECT_EQ(h.echo().rejected(), 1);
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 1u);
}

TEST_P(EveryReader, RejectionAfterMessagesIsTheApplicationsAndRefreshesForTheNextCall) {
  Harness h;
  const std::string fingerprint = h.CurrentFingerprint();
  test::EchoRequest request = Listen("m", 5);
  request.set_reject_after(2);
  Seen seen = Read(h.stub(), request);
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kUnauthenticated,
                                    "revoked mid-stream"));
  seen.ExpectInOrder(2, fingerprint);
  EXPECT_EQ(h.echo().hits(), 1);  // never replayed
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
  // The rejection started the shared refresh; the next stream gets its token.
  h.tokens().AwaitCalls(1);
  Seen next = Read(h.stub(), Listen("n", 3));
  ASSERT_THAT(next.status, IsOk());
  next.ExpectInOrder(3, h.CurrentFingerprint());
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.echo().hits(), 2);
}

TEST_P(EveryReader, RejectionAfterHeadersIsNotReplayed) {
  Harness h;
  test::EchoRequest request = Listen("h", 5);
  request.set_reject_after(0);  // headers, then UNAUTHENTICATED
  Seen seen = Read(h.stub(), request);
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_TRUE(seen.replies.empty());
  EXPECT_EQ(seen.Initial("x-initial"), "h");
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
  h.tokens().AwaitCalls(1);
}

TEST_P(EveryReader, TenThousandMessagesArriveCompleteAndInOrderAfterAReplay) {
  HarnessOptions options;
  options.interceptor.stream_read_ahead_messages = 4;  // pauses often
  Harness h(options);
  h.authority().RevokeAccessTokens();
  Seen seen = Read(h.stub(), Listen("k", 10000));
  ASSERT_THAT(seen.status, IsOk());
  seen.ExpectInOrder(10000, h.CurrentFingerprint());
  EXPECT_EQ(h.echo().hits(), 2);
  EXPECT_EQ(h.tokens().calls(), 1);
}

TEST_P(EveryReader, DeadSessionEndsTheStreamWithAClearStatus) {
  std::atomic<int> expired{0};
  HarnessOptions options;
  options.manager.on_session_expired = [&expired](const absl::Status&) {
    ++expired;
  };
  Harness h(options);
  h.authority().RevokeRefreshTokens();
  h.authority().RevokeAccessTokens();
  Seen seen = Read(h.stub(), Listen("d", 3));
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kUnauthenticated,
                                    HasSubstr("session expired")));
  EXPECT_TRUE(seen.replies.empty());
  EXPECT_EQ(expired.load(), 1);
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.tokens().calls(), 1);
}

TEST(Streams, CallbackReaderHeadersComeFromTheReplay) {
  Harness h;
  h.authority().RevokeAccessTokens();
  CallbackReader reader(h.stub(), Listen("cb", 2));
  Seen seen = reader.Wait();
  ASSERT_THAT(seen.status, IsOk());
  EXPECT_TRUE(reader.headers_ok());
  EXPECT_EQ(seen.Initial("x-initial"), "cb");
}

TEST(Streams, ReplayedStreamCarriesTheApplicationsMetadataAndDeadline) {
  Harness h;
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-app", "mine");
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(1));
  Seen seen = ReadSync(h.stub(), Listen("md", 1), &ctx);
  ASSERT_THAT(seen.status, IsOk());
  EXPECT_EQ(h.echo().hits(), 2);
  EXPECT_EQ(h.echo().leaked_markers(), 0);
}

TEST(Streams, ReplayOptOutOnlyAttachesTheToken) {
  HarnessOptions options;
  options.interceptor.replay_server_streams = false;
  Harness h(options);
  h.authority().RevokeAccessTokens();
  Seen seen = ReadSync(h.stub(), Listen("o", 3));
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(h.echo().hits(), 1);
  h.tokens().AwaitCalls(1);
  Seen next = ReadSync(h.stub(), Listen("o", 3));
  ASSERT_THAT(next.status, IsOk());
  next.ExpectInOrder(3, h.CurrentFingerprint());
  EXPECT_EQ(h.tokens().calls(), 1);
}

TEST(Streams, UnparsableMessageEndsTheStreamWithInternal) {
  testing::UnparsableServer garbage;
  Harness h;
  auto channel = CreateAuthRefreshChannel(garbage.address(),
                                          grpc::InsecureChannelCredentials(),
                                          h.manager(), [] {
                                            InterceptorOptions o;
                                            o.allow_insecure_transport = true;
                                            return o;
                                          }());
  auto stub = test::Echo::NewStub(channel);
  Seen seen = ReadSync(*stub, Listen("u", 1));
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kInternal,
                                    HasSubstr("could not be parsed")));
  EXPECT_TRUE(seen.replies.empty());
  EXPECT_EQ(garbage.calls(), 1);
}

// ------------------------------------------------ cancellation and deadlines

TEST(StreamCancel, BeforeTheFirstMessage) {
  Harness h;
  h.echo().Pause();
  grpc::ClientContext ctx;
  auto reader = h.stub().Listen(&ctx, Listen("c", 3));
  h.echo().AwaitPaused(1);
  ctx.TryCancel();
  test::EchoReply reply;
  EXPECT_FALSE(reader->Read(&reply));
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
  h.echo().Resume();
  EXPECT_EQ(h.tokens().calls(), 0);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
}

TEST(StreamCancel, WhileWaitingForTheRefresh) {
  Harness h;
  h.tokens().Hold();
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  auto reader = h.stub().Listen(&ctx, Listen("w", 3));
  h.tokens().AwaitHeld(1);  // rejected, and waiting for this refresh
  ctx.TryCancel();
  test::EchoReply reply;
  EXPECT_FALSE(reader->Read(&reply));
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
  h.tokens().Release();
  EXPECT_EQ(h.echo().hits(), 1);  // never replayed
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
  // The refresh still completes for the next call.
  EXPECT_THAT(ReadSync(h.stub(), Listen("n", 1)).status, IsOk());
  EXPECT_EQ(h.tokens().calls(), 1);
}

// A stub whose channel keeps gRPC's flow-control window at 64 KiB (BDP
// probing off): a server streaming more than that to a reader that stops can
// only end its stream by being cancelled.
std::unique_ptr<test::Echo::Stub> WindowBoundStub(Harness& h,
                                                  const InterceptorOptions& options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  return test::Echo::NewStub(CreateAuthRefreshChannel(
      h.servers().address(), grpc::InsecureChannelCredentials(), h.manager(),
      options, args));
}

test::EchoRequest FourMegabytes(const std::string& text) {
  test::EchoRequest request = Listen(text, 1000);
  request.set_reply_padding(4096);
  return request;
}

TEST(StreamCancel, MidStreamReachesTheServer) {
  HarnessOptions options;
  Harness h(options);
  auto stub = WindowBoundStub(h, options.interceptor);
  grpc::ClientContext ctx;
  auto reader = stub->Listen(&ctx, FourMegabytes("mid"));
  test::EchoReply reply;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(reader->Read(&reply));
    EXPECT_EQ(reply.index(), i);
  }
  ctx.TryCancel();
  EXPECT_FALSE(reader->Read(&reply));
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
  h.echo().AwaitStreamsEnded(1);
  EXPECT_EQ(h.echo().broken_streams(), 1);  // the server saw it go
  EXPECT_EQ(h.echo().hits(), 1);
}

TEST(StreamCancel, DropsMessagesReadAheadButNotRead) {
  Harness h;
  test::EchoRequest request = Listen("ahead", 100);
  request.set_hold_after(20);  // 20 messages sent, read ahead by authrefresh
  grpc::ClientContext ctx;
  auto reader = h.stub().Listen(&ctx, request);
  test::EchoReply reply;
  ASSERT_TRUE(reader->Read(&reply));
  h.echo().AwaitHeldStreams(1);
  ctx.TryCancel();
  int after_cancel = 0;
  while (reader->Read(&reply)) ++after_cancel;
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
  // A read already completed may race the cancellation; no more than that.
  EXPECT_THAT(after_cancel, Lt(2));
  h.echo().ReleaseStreams();
}

// gRPC cancels a call whose ClientContext goes before the call ended; the
// attempt authrefresh made for it must go the same way, not linger.
TEST(StreamCancel, ReaderDroppedWithoutFinishCancelsTheAttempt) {
  HarnessOptions options;
  Harness h(options);
  auto stub = WindowBoundStub(h, options.interceptor);
  {
    grpc::ClientContext ctx;
    auto reader = stub->Listen(&ctx, FourMegabytes("drop"));
    test::EchoReply reply;
    ASSERT_TRUE(reader->Read(&reply));
  }  // reader and context dropped mid-stream, without Finish()
  h.echo().AwaitStreamsEnded(1);
  EXPECT_EQ(h.echo().broken_streams(), 1);
}

TEST(StreamCancel, CallbackReaderCancelledMidStream) {
  Harness h;
  test::EchoRequest request = Listen("cbc", 100);
  request.set_hold_after(2);
  CallbackReader reader(h.stub(), request);
  h.echo().AwaitHeldStreams(1);
  reader.context().TryCancel();
  Seen seen = reader.Wait();
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_LE(seen.replies.size(), 2u);
  h.echo().ReleaseStreams();
}

TEST(StreamDeadline, WhileWaitingForTheRefresh) {
  Harness h;
  h.tokens().Hold();
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(300));
  Seen seen = ReadSync(h.stub(), Listen("dw", 3), &ctx);
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(seen.replies.empty());
  h.tokens().Release();
  EXPECT_EQ(h.echo().hits(), 1);
}

TEST(StreamDeadline, MidStreamWhileTheServerIsSilent) {
  Harness h;
  test::EchoRequest request = Listen("dm", 100);
  request.set_hold_after(2);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(500));
  Seen seen = ReadSync(h.stub(), request, &ctx);
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kDeadlineExceeded));
  seen.ExpectInOrder(2, h.CurrentFingerprint());
  h.echo().ReleaseStreams();
}

TEST(StreamDeadline, StalledReaderHoldsBackTheServerUntilTheDeadline) {
  HarnessOptions options;
  options.interceptor.stream_read_ahead_messages = 2;
  Harness h(options);
  auto stub = WindowBoundStub(h, options.interceptor);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(500));
  auto reader = stub->Listen(&ctx, FourMegabytes("slow"));
  test::EchoReply reply;
  ASSERT_TRUE(reader->Read(&reply));
  // The reader stalls; authrefresh holds 2 messages, no more, so the server
  // blocks on flow control until the deadline ends the call.
  h.echo().AwaitStreamsEnded(1);
  EXPECT_EQ(h.echo().broken_streams(), 1);
  int more = 0;
  while (reader->Read(&reply)) ++more;
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(more, Lt(999));
}

// A callback reader that stops reading, with messages held for it: the
// deadline still ends the call (authrefresh's own timer, since the attempt
// cannot report it while held open or after it has ended).
TEST(StreamDeadline, StalledCallbackReaderWhileTheAttemptIsHeldOpen) {
  HarnessOptions options;
  options.interceptor.stream_read_ahead_messages = 4;
  Harness h(options);
  CallbackReader reader(
      h.stub(), Listen("held", 20), /*max_reads=*/1,
      std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  Seen seen = reader.Wait();
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(seen.replies.size(), 1u);
}

TEST(StreamDeadline, StalledCallbackReaderAfterTheAttemptEnded) {
  HarnessOptions options;
  options.interceptor.stream_read_ahead_messages = 100;  // takes all 20
  Harness h(options);
  CallbackReader reader(
      h.stub(), Listen("ended", 20), /*max_reads=*/1,
      std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  Seen seen = reader.Wait();
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(seen.replies.size(), 1u);
  h.echo().AwaitStreamsEnded(1);
  EXPECT_EQ(h.echo().broken_streams(), 0);  // the server had sent everything
}

// ------------------------------------------------------------------- storm

// Unary calls, server streams of all three reader shapes, client streams and
// bidi calls, all sent with a token the server has just revoked: one refresh
// for all of them; unary calls and server streams are replayed; client
// streams and bidi calls get the rejection.
TEST(StreamStorm, EveryCallShapeSharesOneRefresh) {
  Harness h;
  constexpr int kUnary = 8, kSync = 4, kAsync = 4, kCallback = 4, kClient = 3,
                kBidi = 3;
  constexpr int kAll = kUnary + kSync + kAsync + kCallback + kClient + kBidi;
  h.authority().RevokeAccessTokens();
  h.echo().Pause();  // every call reaches the server before any is rejected

  std::vector<std::thread> threads;
  absl::Mutex mu;
  std::vector<Seen> streams;
  std::vector<grpc::Status> unary, client_side;
  auto keep = [&](Seen s) {
    absl::MutexLock lock(&mu);
    streams.push_back(std::move(s));
  };
  for (int i = 0; i < kUnary; ++i) {
    threads.emplace_back([&] {
      grpc::Status s = h.Say("u");
      absl::MutexLock lock(&mu);
      unary.push_back(s);
    });
  }
  for (int i = 0; i < kSync; ++i) {
    threads.emplace_back([&] { keep(ReadSync(h.stub(), Listen("s", 3))); });
  }
  for (int i = 0; i < kAsync; ++i) {
    threads.emplace_back([&] { keep(ReadAsync(h.stub(), Listen("a", 3))); });
  }
  for (int i = 0; i < kCallback; ++i) {
    threads.emplace_back([&] { keep(ReadCallback(h.stub(), Listen("c", 3))); });
  }
  for (int i = 0; i < kClient; ++i) {
    threads.emplace_back([&] {
      grpc::ClientContext ctx;
      test::EchoReply reply;
      auto writer = h.stub().Collect(&ctx, &reply);
      writer->Write(test::EchoRequest());
      writer->WritesDone();
      grpc::Status s = writer->Finish();
      absl::MutexLock lock(&mu);
      client_side.push_back(s);
    });
  }
  for (int i = 0; i < kBidi; ++i) {
    threads.emplace_back([&] {
      grpc::ClientContext ctx;
      auto stream = h.stub().Chat(&ctx);
      stream->Write(test::EchoRequest());
      stream->WritesDone();
      test::EchoReply reply;
      while (stream->Read(&reply)) {
      }
      grpc::Status s = stream->Finish();
      absl::MutexLock lock(&mu);
      client_side.push_back(s);
    });
  }
  h.echo().AwaitPaused(kAll);
  h.echo().Resume();
  for (auto& t : threads) t.join();

  ASSERT_EQ(unary.size(), static_cast<size_t>(kUnary));
  for (const auto& s : unary) EXPECT_THAT(s, IsOk());
  ASSERT_EQ(streams.size(), static_cast<size_t>(kSync + kAsync + kCallback));
  for (const auto& s : streams) {
    EXPECT_THAT(s.status, IsOk());
    s.ExpectInOrder(3, h.CurrentFingerprint());
  }
  ASSERT_EQ(client_side.size(), static_cast<size_t>(kClient + kBidi));
  for (const auto& s : client_side) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnauthenticated));
  }
  const int replayable = kUnary + kSync + kAsync + kCallback;
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.manager()->Stats().refreshes_started, 1u);
  EXPECT_EQ(h.manager()->Stats().calls_replayed,
            static_cast<uint64_t>(replayable));
  EXPECT_EQ(h.echo().hits(), kAll + replayable);
  EXPECT_EQ(h.echo().rejected(), kAll);
}

// ------------------------------------------------------------------ stress

// In each of 5 phases the server revokes the token, then 4 threads open 30
// streams each, and each stream ends its own way: read to the end,
// cancelled mid-stream by its reader or at once by another thread, a
// deadline of a few milliseconds that lands anywhere (before the first
// batch, during the refresh, mid-stream), or dropped without Finish(). Every
// stream must end with the status its ending allows, a completed one with
// every message in order; nothing hangs, nothing is reused. Run under
// ASan + LeakSanitizer in CI, where the races would show.
TEST(StreamStress, RandomEndingsWhileTokensAreRevoked) {
  HarnessOptions options;
  // A revocation every phase is not a server rejecting every token.
  options.manager.min_refresh_interval = absl::ZeroDuration();
  Harness h(options);
  constexpr int kPhases = 5;
  constexpr int kThreads = 4;
  constexpr int kStreamsPerThread = 30;
  constexpr int kMessages = 20;
  enum Ending { kReadAll, kCancelMidStream, kCancelAtOnce, kDeadline, kDrop,
                kCallbackReadAll, kCallbackDeadline, kEndingCount };
  std::atomic<int> completed{0}, wrong{0};
  for (int phase = 0; phase < kPhases; ++phase) {
    h.authority().RevokeAccessTokens();
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 random(1000 * phase + t);
        for (int i = 0; i < kStreamsPerThread; ++i) {
          const Ending ending = static_cast<Ending>(random() % kEndingCount);
          const int stop_after = static_cast<int>(random() % kMessages);
          const auto deadline = std::chrono::system_clock::now() +
                                std::chrono::microseconds(random() % 5000);
          const test::EchoRequest request = Listen("x", kMessages);
          auto bad = [&](const std::string& what) {
            ++wrong;
            ADD_FAILURE() << "ending " << ending << ": " << what;
          };
          if (ending == kCallbackReadAll || ending == kCallbackDeadline) {
            CallbackReader reader(h.stub(), request, -1,
                                  ending == kCallbackDeadline
                                      ? deadline
                                      : std::chrono::system_clock::time_point::max());
            Seen seen = reader.Wait();
            if (seen.status.ok()) {
              if (seen.replies.size() != kMessages) bad("incomplete");
              for (int k = 0; k < static_cast<int>(seen.replies.size()); ++k) {
                if (seen.replies[k].index() != k) bad("out of order");
              }
              ++completed;
            } else if (ending != kCallbackDeadline ||
                       seen.status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
              bad(seen.status.error_message());
            }
            continue;
          }
          grpc::ClientContext ctx;
          if (ending == kDeadline) ctx.set_deadline(deadline);
          auto reader = h.stub().Listen(&ctx, request);
          std::thread canceller;
          if (ending == kCancelAtOnce) canceller = std::thread([&ctx] { ctx.TryCancel(); });
          test::EchoReply reply;
          int n = 0;
          bool in_order = true;
          while (reader->Read(&reply)) {
            in_order = in_order && reply.index() == n;
            ++n;
            if (n == stop_after && ending == kCancelMidStream) ctx.TryCancel();
            if (n == stop_after && ending == kDrop) break;
          }
          if (canceller.joinable()) canceller.join();
          if (ending == kDrop && n == stop_after && stop_after > 0) {
            continue;  // reader and context dropped without Finish()
          }
          const grpc::Status status = reader->Finish();
          if (!in_order) bad("out of order");
          if (status.ok()) {
            if (n != kMessages) bad("incomplete");
            ++completed;
          } else if (!((status.error_code() == grpc::StatusCode::CANCELLED &&
                        (ending == kCancelMidStream || ending == kCancelAtOnce)) ||
                       (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
                        ending == kDeadline))) {
            bad(status.error_message());
          }
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(completed.load(), 0);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
  // One refresh per revocation, never more.
  EXPECT_GE(h.tokens().calls(), 1);
  EXPECT_LE(h.tokens().calls(), kPhases);
}

}  // namespace
}  // namespace authrefresh
