// interceptor/token_store.h
//
// Defines `TokenStore`, where a TokenManager keeps its token across restarts,
// and two stores: in memory, and a file written atomically with mode 0600.
// With rotating refresh tokens, losing the newest refresh token ends the
// session; a store keeps it.

#ifndef AUTHREFRESH_INTERCEPTOR_TOKEN_STORE_H_
#define AUTHREFRESH_INTERCEPTOR_TOKEN_STORE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "interceptor/token.h"

namespace authrefresh {

class TokenStore {
 public:
  virtual ~TokenStore() = default;

  // The saved token; nullopt when nothing was saved yet. An error means the
  // store could not be read or holds something that is not a token.
  virtual absl::StatusOr<std::optional<Token>> Load() = 0;

  // Saves `token` durably, replacing what was saved. The TokenManager calls
  // it after every refresh and SetToken, before the calls waiting for that
  // token are released, on the thread that completed the refresh or called
  // SetToken. Calls never overlap and never go back to an older token: when
  // a refresh and SetToken finish at once, one thread saves both in order,
  // or only the newer if the older had not started.
  virtual absl::Status Save(const Token& token) = 0;
};

// Keeps the token in memory (the default behaviour, made explicit).
std::shared_ptr<TokenStore> MakeInMemoryTokenStore();

// Keeps the token in the file at `path`: each Save writes a new file next to
// it with mode 0600, syncs it and renames it over `path`, so a crash at any
// point leaves either the old token or the new one, never a mix.
std::shared_ptr<TokenStore> MakeFileTokenStore(std::string path);

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_TOKEN_STORE_H_
