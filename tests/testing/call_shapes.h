// Every way an application can make a call to the Echo service: four call
// shapes (unary, server-, client- and bidi-streaming) through each API
// (sync, callback reactor, completion queue, and GenericStub with
// ByteBuffers), each run to its end and reported the same way.

#ifndef AUTHREFRESH_TESTS_TESTING_CALL_SHAPES_H_
#define AUTHREFRESH_TESTS_TESTING_CALL_SHAPES_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "tests/protos/echo.grpc.pb.h"

namespace authrefresh {
namespace testing {

enum class Shape { kUnary, kServerStream, kClientStream, kBidi };
enum class Api {
  kSync,
  kCallback,          // callback API (ClientUnaryReactor, ClientReadReactor, ...)
  kAsync,             // completion queue
  kAsyncHeadersFirst, // completion queue, ReadInitialMetadata before the rest
  kGeneric,           // grpc::GenericStub: ByteBuffer in and out
};

struct CallCase {
  Shape shape;
  Api api;
};
std::string CaseName(const CallCase& c);
// Every shape through every API (kAsyncHeadersFirst for unary calls only).
std::vector<CallCase> AllCallCases();

// What the application saw of one call.
struct Seen {
  grpc::Status status;
  std::vector<test::EchoReply> replies;
  std::multimap<std::string, std::string> initial_metadata;
  std::multimap<std::string, std::string> trailing_metadata;
  // Writes whose completion said the stream was gone (ok == false).
  int failed_writes = 0;

  std::string Initial(const std::string& key) const;
  std::string Trailing(const std::string& key) const;
};

// How much each call sends and expects: unary Say, Listen of `messages`
// replies, Collect of `messages` requests, Chat of `messages` exchanges.
struct CallPlan {
  int messages = 3;
  std::string text = "shape";
  // Applied to the ClientContext before the call starts.
  std::function<void(grpc::ClientContext*)> prepare;
};

// Runs one call of `c` on `channel` to its end.
Seen RunCall(const std::shared_ptr<grpc::Channel>& channel, const CallCase& c,
             const CallPlan& plan = {});

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_CALL_SHAPES_H_
