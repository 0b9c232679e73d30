// interceptor/interceptor.h
//
// Defines `InterceptorOptions`, `MakeAuthRefreshInterceptorFactory()` and
// `CreateAuthRefreshChannel()`: how a channel gets the authrefresh interceptor.
//
// On every call through such a channel:
//  * `authorization: Bearer <token>` is attached (the TokenManager's current
//    token; a call whose token has expired first waits for the refresh);
//  * a unary call with protobuf messages that the server rejects with
//    UNAUTHENTICATED is replayed once, with the same request bytes, metadata,
//    deadline, compression and call credentials, after the shared refresh;
//    the application sees only the replay's response, status and metadata;
//  * a server-streaming call with protobuf messages that the server rejects
//    with UNAUTHENTICATED before sending anything (no headers, no message:
//    the usual Trailers-Only rejection) is replayed once in the same way;
//    once the server has sent headers or a message, the stream is the
//    application's and a later rejection reaches it unchanged;
//  * client-streaming and bidi calls, and calls whose messages are not
//    protobuf (an application's own GenericStub calls), get the token but
//    are never replayed (replaying a client's writes would mean buffering
//    every one of them); their UNAUTHENTICATED starts the shared refresh, so
//    the next call succeeds.
//
// authrefresh's calls run on gRPC's own threads; it starts none of its own.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERCEPTOR_H_
#define AUTHREFRESH_INTERCEPTOR_INTERCEPTOR_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/client_interceptor.h"
#include "interceptor/token_manager.h"

namespace authrefresh {

struct InterceptorOptions {
  // Bearer tokens go out only over channels with transport security (TLS).
  // On an insecure channel every intercepted call fails with
  // FAILED_PRECONDITION, before anything is sent, and no refresh starts.
  // Set this to allow cleartext, e.g. for tests on 127.0.0.1.
  bool allow_insecure_transport = false;

  // Methods never intercepted: no token, no replay. Each entry is a full
  // method name, "/package.Service/Method", or a whole service,
  // "/package.Service/*". authrefresh.v1.TokenService is always excluded.
  std::vector<std::string> excluded_methods;

  // Which server answers mean "this token is no longer good" (refresh, and
  // replay a unary call once). Null means IsTokenRejection(). UNAUTHENTICATED
  // statuses that gRPC's client makes itself never count, whatever this says.
  std::function<bool(const grpc::Status& status,
                     const std::multimap<grpc::string_ref, grpc::string_ref>&
                         trailing_metadata)>
      is_rejection;

  // Which unary calls are made replayable. Replaying needs the interceptor to
  // take the call over (hijack it), which costs time on every call; see the
  // README's Performance section for the measured difference.
  enum class UnaryReplay {
    // Every protobuf unary call: a call whose token the server rejects is
    // replayed once with the refreshed token, even if the token was revoked
    // long before it expired.
    kAlways,
    // Only calls sent while the token is inside its proactive-refresh margin
    // (or expired, or already rejected). A call sent with a fresh token goes
    // out directly, carrying the token; if the server rejects it (a token
    // revoked before its expiry), the application gets UNAUTHENTICATED and
    // the shared refresh starts, so the next call succeeds. Faster; use it
    // when your server rarely revokes tokens early.
    kNearExpiryOnly,
  };
  UnaryReplay unary_replay = UnaryReplay::kAlways;

  // Server-streaming calls are replayed once when the server rejects them
  // before its first response headers or message. False: they only carry
  // the token, like client-streaming and bidi calls.
  bool replay_server_streams = true;
  // A replayed server stream is read by authrefresh ahead of the
  // application. It holds at most this many messages that the application
  // has not read yet (at least 1), and stops reading ahead once they reach
  // stream_read_ahead_bytes (one message larger than that is still read).
  // Then gRPC's flow control holds the server back: memory stays bounded
  // however long the stream and however slow the reader.
  size_t stream_read_ahead_messages = 8;
  size_t stream_read_ahead_bytes = size_t{1} << 20;
};

// The default rejection policy: UNAUTHENTICATED from the server, unless its
// `www-authenticate` Bearer challenge says error="insufficient_scope"
// (RFC 6750 section 3.1: a new token with the same scope would not help);
// error="invalid_token", or no challenge, is a rejection.
bool IsTokenRejection(
    const grpc::Status& status,
    const std::multimap<grpc::string_ref, grpc::string_ref>& trailing_metadata);

// Marks one call so that authrefresh attaches the current token but neither
// waits for, nor starts, a refresh and never replays it: the server's answer
// reaches the application as it is. Call before starting the call. The mark
// is metadata that authrefresh removes before the call leaves the process.
void SkipTokenRefresh(grpc::ClientContext* context);

// The interceptor, for channels built with
// grpc::experimental::CreateCustomChannelWithInterceptors(). Put it first in
// the list of factories: gRPC 1.51 misroutes the calls authrefresh makes
// itself when a factory before it declines a call.
//
// This factory cannot see the channel's credentials, so unless
// `allow_insecure_transport` is set, every call it intercepts carries call
// credentials that make gRPC itself refuse an insecure channel (the call
// fails with FAILED_PRECONDITION, nothing is sent). CreateAuthRefreshChannel
// checks the credentials once instead and saves that per-call cost.
std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>
MakeAuthRefreshInterceptorFactory(std::shared_ptr<TokenManager> manager,
                                  InterceptorOptions options = {});

// A channel to `target` whose calls carry `manager`'s token and are replayed
// after a refresh. With insecure `credentials` and without
// `options.allow_insecure_transport`, the channel is still returned but every
// intercepted call fails with FAILED_PRECONDITION saying why, and no token or
// refresh is ever sent.
std::shared_ptr<grpc::Channel> CreateAuthRefreshChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    std::shared_ptr<TokenManager> manager, InterceptorOptions options = {},
    const grpc::ChannelArguments& args = {});

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERCEPTOR_H_
