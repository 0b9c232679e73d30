// interceptor/interceptor.h
//
// Defines `InterceptorOptions`, `CreateAuthRefreshChannel()`,
// `MakeAuthRefreshChannelSetup()` and `AuthRefreshChannelSetup`: how a
// channel gets authrefresh.
//
// On every call through such a channel to a method it does not exclude
// (InterceptorOptions::excluded_methods), of any shape (unary, server-,
// client- and bidi-streaming; sync, callback and completion-queue APIs;
// generated stubs and GenericStub alike):
//  * `authorization: Bearer <token>` is attached by call credentials that
//    gRPC runs for each attempt; a call whose token has expired, or was
//    rejected already, first waits (without a thread) for the refresh;
//  * when the server rejects a unary or server-streaming call with
//    UNAUTHENTICATED before it is committed (no response headers or message
//    yet: the usual Trailers-Only rejection), gRPC's own retry sends the
//    application's call once more, and its credentials wait for the one
//    shared refresh and attach the new token. The application sees only the
//    replay's answer. The call is otherwise exactly the application's: its
//    deadline, wait_for_ready, authority and metadata;
//  * a rejection that is not replayed reaches the application as
//    UNAUTHENTICATED and starts the shared refresh, so that the next call
//    succeeds: after the commit point; a request larger than
//    `replay_buffer_bytes`; a compressed call (per call, or the channel's
//    default), because gRPC 1.51's retry compresses its kept copy of the
//    message in place and would send it compressed twice (grpc/grpc#37742);
//    a client-streaming or bidi call, because gRPC 1.51's retry can send it
//    again with requests missing, or without its half-close (docs/limits.md);
//  * limit: a compressed, client-streaming or bidi call to a method whose
//    retryPolicy also retries codes other than UNAUTHENTICATED (the
//    application's own) is never sent again, for any code: its second
//    attempt is stopped and the call ends UNAVAILABLE, and no refresh
//    starts, since a second attempt there does not prove a rejection.
//
// Threads: the call path starts none. A call waiting for a refresh is
// released on the thread that ends its wait: the one completing the refresh
// (the HTTP or shared refresher's worker thread; a gRPC thread for
// MakeGrpcTokenRefresher), the one calling SetToken() or destroying the
// TokenManager, or a gRPC executor thread (its deadline, its cancellation;
// SystemClock()'s timers). MakeHttpTokenRefresher and
// MakeSharedTokenRefresher each own one worker thread for their I/O, started
// on their first grant; MakeGrpcTokenRefresher uses gRPC's callback API and
// owns none.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERCEPTOR_H_
#define AUTHREFRESH_INTERCEPTOR_INTERCEPTOR_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/client_interceptor.h"
#include "interceptor/server_answer.h"
#include "interceptor/token_manager.h"

namespace authrefresh {

struct InterceptorOptions {
  // Bearer tokens go out only over channels with privacy and integrity
  // (TLS): gRPC itself refuses the call credentials elsewhere, and the call
  // fails with UNAUTHENTICATED, naming this option, before anything is sent;
  // no refresh starts. Set this to allow cleartext, e.g. for tests on 127.0.0.1.
  bool allow_insecure_transport = false;

  // Methods left alone: no token, no refresh. Each entry is a full method
  // name, "/package.Service/Method", or a whole service,
  // "/package.Service/*". authrefresh.v1.TokenService is always excluded.
  std::vector<std::string> excluded_methods;

  // Which final answers mean "this token is no longer good": authrefresh
  // then starts the shared refresh so that the next call succeeds. Null
  // means IsTokenRejection(). UNAUTHENTICATED statuses that gRPC's client
  // makes itself never count, whatever this says. It does not decide the
  // replay: gRPC replays an UNAUTHENTICATED answered before the commit point
  // (see the top of this file) before the answer can be read; loop protection
  // (TokenManagerOptions::min_refresh_interval) bounds what such replays
  // cost when a new token does not help (e.g. insufficient_scope).
  std::function<bool(const ServerAnswer& answer)> is_rejection;

  // The most request bytes gRPC keeps for each call so that it can replay it
  // (the channel argument grpc.per_rpc_retry_buffer_size, whose own default
  // is the same). A call whose request messages exceed it is committed as
  // soon as they do: a rejection after that is not replayed; it reaches the
  // application and starts the refresh, so that the next call succeeds.
  // CreateAuthRefreshChannel and MakeAuthRefreshChannelSetup set it unless
  // your channel arguments already do.
  size_t replay_buffer_bytes = size_t{256} << 10;
};

// Marks one call so that authrefresh attaches the current token but
// neither waits for, nor starts, a refresh (not a proactive one, nor after
// a rejection): the call goes out at once with the token as it is, even
// expired or rejected (none while there is none, or after refreshing
// stopped for good). Call before starting the call. The mark is metadata
// that authrefresh removes before the call is sent; on an excluded method
// authrefresh does not see the call, and the mark goes to the server.
void SkipTokenRefresh(grpc::ClientContext* context);

// A channel to `target` whose calls carry `manager`'s token and are replayed
// once after a rejection. `args` are kept; authrefresh merges its replay
// policy into their service config (grpc.service_config: UNAUTHENTICATED is
// added to each retryPolicy's codes, and methods without one get
// {maxAttempts: 2, retryableStatusCodes: [UNAUTHENTICATED]}; excluded
// methods get no replay). If `args` cannot carry it (retries turned off with
// grpc.enable_retries = 0, a service config that is not a valid service
// config object, a hedgingPolicy), the channel is still returned but every
// call to a method it does not exclude fails, naming the problem, and nothing
// is sent (excluded methods work as on a plain channel): FAILED_PRECONDITION
// for retries turned off, INVALID_ARGUMENT for the service config. These are
// misconfigurations, not credential failures, so they are not
// UNAUTHENTICATED: no login or refresh can fix them.
std::shared_ptr<grpc::Channel> CreateAuthRefreshChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    std::shared_ptr<TokenManager> manager, InterceptorOptions options = {},
    const grpc::ChannelArguments& args = {});

// For channels you build yourself with
// grpc::experimental::CreateCustomChannelWithInterceptors(): the channel
// arguments and the interceptor, made together as CreateAuthRefreshChannel
// makes them. Fails, naming the problem, where CreateAuthRefreshChannel
// would return a channel that refuses its calls.
//
//   auto setup = authrefresh::MakeAuthRefreshChannelSetup(manager, {}, my_args);
//   if (!setup.ok()) { /* setup.status() says why */ }
//   std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> f;
//   f.push_back(std::move(setup->interceptor));  // first in the list
//   // ... your own factories ...
//   auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
//       target, credentials, setup->args, std::move(f));
struct AuthRefreshChannelSetup {
  // Your arguments, with authrefresh's replay policy merged into their
  // service config (see CreateAuthRefreshChannel).
  grpc::ChannelArguments args;
  std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> interceptor;
};
absl::StatusOr<AuthRefreshChannelSetup> MakeAuthRefreshChannelSetup(
    std::shared_ptr<TokenManager> manager, InterceptorOptions options = {},
    const grpc::ChannelArguments& args = {});

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERCEPTOR_H_
