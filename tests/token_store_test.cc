// The token stores, including a store killed mid-write.

#include "interceptor/token_store.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using testing::IsOk;
using testing::StatusIs;

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

Token Numbered(int i) {
  return Token{absl::StrCat("at-", i, "-", std::string(200, 'a')),
               absl::StrCat("rt-", i, "-", std::string(200, 'r')),
               absl::FromUnixSeconds(1'700'000'000 + i), absl::StrCat("scope ", i)};
}

TEST(FileTokenStore, RoundTripsWithMode0600) {
  const std::string path = TempDir() + "/roundtrip.token";
  auto store = MakeFileTokenStore(path);
  absl::StatusOr<std::optional<Token>> nothing = store->Load();
  ASSERT_THAT(nothing, IsOk());
  EXPECT_FALSE(nothing->has_value());

  ::umask(0);  // the store must not depend on the umask
  Token t = Numbered(7);
  ASSERT_THAT(store->Save(t), IsOk());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  absl::StatusOr<std::optional<Token>> back = store->Load();
  ASSERT_THAT(back, IsOk());
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->access_token, t.access_token);
  EXPECT_EQ((*back)->refresh_token, t.refresh_token);
  EXPECT_EQ((*back)->expires_at, t.expires_at);
  EXPECT_EQ((*back)->scope, t.scope);

  Token forever{"at", "rt", absl::InfiniteFuture(), ""};
  ASSERT_THAT(store->Save(forever), IsOk());
  EXPECT_EQ((*store->Load())->expires_at, absl::InfiniteFuture());
}

TEST(FileTokenStore, CorruptFileIsAnErrorNotAToken) {
  const std::string path = TempDir() + "/corrupt.token";
  std::ofstream(path) << "authrefresh-token 1\naccess_token=ok\n";  // cut short
  EXPECT_THAT(MakeFileTokenStore(path)->Load(), StatusIs(absl::StatusCode::kDataLoss));
  std::ofstream(path) << "authrefresh-token 1\naccess_token=a b\nrefresh_token=\n"
                         "expires_at_unix_nanos=never\nscope=\n";
  EXPECT_THAT(MakeFileTokenStore(path)->Load(), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(FileTokenStore, UnwritableDirectoryIsReported) {
  auto store = MakeFileTokenStore("/nonexistent-dir/x.token");
  EXPECT_THAT(store->Save(Numbered(1)), StatusIs(absl::StatusCode::kUnavailable));
}

// A child saves token after token; the parent kills it with SIGKILL at a
// different moment each round. The file must then hold one whole token that
// the child saved, never a mix or a torn write.
TEST(FileTokenStore, SurvivesACrashMidWrite) {
  const std::string path = TempDir() + "/crash.token";
  for (int round = 0; round < 30; ++round) {
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(ready[0]);
      auto store = MakeFileTokenStore(path);
      for (int i = 0;; ++i) {
        if (!store->Save(Numbered(i)).ok()) _exit(3);
        if (i == 20) (void)!write(ready[1], "x", 1);  // saves are under way
      }
    }
    close(ready[1]);
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    close(ready[0]);
    // Let it run a varying number of further saves, then kill it mid-stream.
    for (volatile int spin = 0; spin < round * 20000; ++spin) {
    }
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));

    absl::StatusOr<std::optional<Token>> loaded = MakeFileTokenStore(path)->Load();
    ASSERT_THAT(loaded, IsOk()) << "round " << round;
    ASSERT_TRUE(loaded->has_value());
    const Token& t = **loaded;
    const std::string n = t.access_token.substr(3, t.access_token.find('-', 3) - 3);
    int i = -1;
    ASSERT_TRUE(absl::SimpleAtoi(n, &i));
    const Token expected = Numbered(i);
    EXPECT_EQ(t.access_token, expected.access_token);
    EXPECT_EQ(t.refresh_token, expected.refresh_token);  // same save, not a mix
    EXPECT_EQ(t.expires_at, expected.expires_at);
    EXPECT_GE(i, 20);
  }
}

TEST(InMemoryTokenStore, KeepsTheLastToken) {
  auto store = MakeInMemoryTokenStore();
  EXPECT_FALSE(store->Load()->has_value());
  ASSERT_THAT(store->Save(Numbered(1)), IsOk());
  ASSERT_THAT(store->Save(Numbered(2)), IsOk());
  EXPECT_EQ((*store->Load())->access_token, Numbered(2).access_token);
}

}  // namespace
}  // namespace authrefresh
