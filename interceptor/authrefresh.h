// interceptor/authrefresh.h
//
// The umbrella header of authrefresh: OAuth 2.0 bearer tokens for gRPC C++
// clients, with one shared refresh and a transparent replay of rejected calls.
//
//   auto manager = authrefresh::TokenManager::Create(
//       {.access_token = at, .refresh_token = rt},
//       authrefresh::MakeGrpcTokenRefresher(
//           grpc::CreateChannel("auth.example.com:443",
//                               grpc::SslCredentials({}))));
//   auto channel = authrefresh::CreateAuthRefreshChannel(
//       "api.example.com:443", grpc::SslCredentials({}), manager);
//   auto stub = my::Api::NewStub(channel);  // calls now carry the token
//
// Bazel: deps = ["@authrefresh//interceptor:authrefresh"].
// CMake: find_package(authrefresh CONFIG REQUIRED), link authrefresh::authrefresh.
//
// Public API: the headers in interceptor/ and protos/token_service.proto.
// This one includes them all but http_token_refresher.h, shared_token.h and
// redis_backend.h, which you include yourself (Bazel targets
// :http_token_refresher, :shared_token, :redis_backend). Everything in
// interceptor/internal/ may change in any release.

#ifndef AUTHREFRESH_INTERCEPTOR_AUTHREFRESH_H_
#define AUTHREFRESH_INTERCEPTOR_AUTHREFRESH_H_

#include "interceptor/clock.h"                 // IWYU pragma: export
#include "interceptor/dpop.h"                  // IWYU pragma: export
#include "interceptor/grpc_token_refresher.h"  // IWYU pragma: export
#include "interceptor/interceptor.h"           // IWYU pragma: export
#include "interceptor/token.h"                 // IWYU pragma: export
#include "interceptor/token_manager.h"         // IWYU pragma: export
#include "interceptor/token_refresher.h"       // IWYU pragma: export
#include "interceptor/token_store.h"           // IWYU pragma: export
#include "interceptor/version.h"               // IWYU pragma: export

#endif  // AUTHREFRESH_INTERCEPTOR_AUTHREFRESH_H_
