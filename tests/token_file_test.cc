// The one token file format and the atomic writer (internal/token_file).

#include "interceptor/internal/token_file.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::ParseTokenFile;
using internal::ReadWholeFile;
using internal::SerializeTokenFile;
using internal::TokenFile;
using internal::WriteFileAtomically;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;
using testing::StatusIs;

std::string TempDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

TEST(TokenFile, RoundTripsEveryFieldToTheNanosecond) {
  TokenFile f;
  f.generation = 9;
  f.token = Token{"at-1", "rt-1", absl::FromUnixNanos(1'900'000'000'123'456'789), "read write",
                  absl::FromUnixNanos(1'899'999'000'000'000'001)};
  absl::StatusOr<std::string> text = SerializeTokenFile(f);
  ASSERT_THAT(text.status(), IsOk());
  EXPECT_EQ(*text,
            "authrefresh-token 2\ngeneration=9\naccess_token=at-1\nrefresh_token=rt-1\n"
            "expires_at_unix_nanos=1900000000123456789\n"
            "issued_at_unix_nanos=1899999000000000001\nscope=read write\n");
  absl::StatusOr<TokenFile> back = ParseTokenFile(*text, "f");
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_EQ(back->generation, 9u);
  EXPECT_EQ(back->token.access_token, "at-1");
  EXPECT_EQ(back->token.refresh_token, "rt-1");
  EXPECT_EQ(back->token.expires_at, f.token.expires_at);
  EXPECT_EQ(back->token.issued_at, f.token.issued_at);
  EXPECT_EQ(back->token.scope, "read write");
}

TEST(TokenFile, ADpopBoundTokenKeepsItsKeyThumbprint) {
  TokenFile f;
  f.token = Token{"at-1", "rt-1", absl::InfiniteFuture(), "", absl::InfinitePast()};
  f.token.dpop_jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
  absl::StatusOr<std::string> text = SerializeTokenFile(f);
  ASSERT_THAT(text.status(), IsOk());
  EXPECT_THAT(*text,
              ::testing::EndsWith("\ndpop_jkt=NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs\n"));
  absl::StatusOr<TokenFile> back = ParseTokenFile(*text, "f");
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_EQ(back->token.dpop_jkt, f.token.dpop_jkt);
  // A bearer token writes no such line.
  f.token.dpop_jkt.clear();
  EXPECT_THAT(*SerializeTokenFile(f), ::testing::Not(::testing::HasSubstr("dpop_jkt")));
  // Something else in its place is corruption.
  std::string bad = *text;
  bad.replace(bad.find("dpop_jkt=") + 9, 4, "a b=");
  EXPECT_THAT(ParseTokenFile(bad, "f").status(),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::HasSubstr("bad dpop_jkt")));
}

TEST(TokenFile, WithoutGenerationAndWithTheUnknownTimes) {
  absl::StatusOr<std::string> text = SerializeTokenFile({std::nullopt, Token{"at", ""}});
  ASSERT_THAT(text.status(), IsOk());
  EXPECT_THAT(*text, Not(HasSubstr("generation")));
  EXPECT_THAT(*text, HasSubstr("expires_at_unix_nanos=never\nissued_at_unix_nanos=unknown\n"));
  absl::StatusOr<TokenFile> back = ParseTokenFile(*text, "f");
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_FALSE(back->generation.has_value());
  EXPECT_EQ(back->token.expires_at, absl::InfiniteFuture());
  EXPECT_EQ(back->token.issued_at, absl::InfinitePast());
}

TEST(TokenFile, ReadsTheFilesOfTheLastVersion) {
  absl::StatusOr<TokenFile> store = ParseTokenFile(
      "authrefresh-token 1\naccess_token=a\nrefresh_token=r\nexpires_at_unix_nanos=5\nscope=s\n",
      "f");
  ASSERT_THAT(store.status(), IsOk());
  EXPECT_EQ(store->token.expires_at, absl::FromUnixNanos(5));
  absl::StatusOr<TokenFile> record = ParseTokenFile(
      "authrefresh-shared 1\ngeneration=2\naccess_token=a\nrefresh_token=r\n"
      "expires_at_unix_nanos=never\nscope=\n",
      "f");
  ASSERT_THAT(record.status(), IsOk());
  EXPECT_EQ(record->generation, 2u);
}

TEST(TokenFile, ACorruptFileIsDataLossNamingThePathAndNeverQuotingIt) {
  for (const char* text : {
           "", "authrefresh-token 2\n", "something else\naccess_token=at-SECRET\n",
           "authrefresh-token 2\naccess_token=at-SECRET\n",  // fields missing
           "authrefresh-token 2\naccess_token=at-SECRET\nrefresh_token=\n"
           "expires_at_unix_nanos=never\nscope=\nscope=\n",  // twice
           "authrefresh-token 2\naccess_token=at SECRET\nrefresh_token=\n"
           "expires_at_unix_nanos=never\nscope=\n",  // not a token
           "authrefresh-token 2\naccess_token=at-SECRET\nrefresh_token=\n"
           "expires_at_unix_nanos=soon\nscope=\n",
           "authrefresh-token 2\naccess_token=at-SECRET\nrefresh_token=\n"
           "expires_at_unix_nanos=never\nscope=\ncolour=blue\n",
           "authrefresh-token 2\naccess_token=at-SECRET\nrefresh_token=\n"
           "expires_at_unix_nanos=never\nscope=",  // no final newline: cut short
       }) {
    SCOPED_TRACE(text);
    absl::StatusOr<TokenFile> f = ParseTokenFile(text, "/var/lib/app/token");
    EXPECT_THAT(f.status(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("/var/lib/app/token")));
    EXPECT_THAT(f.status().message(), Not(HasSubstr("SECRET")));
  }
}

TEST(TokenFile, AScopeWithALineBreakCannotBeWritten) {
  EXPECT_THAT(
      SerializeTokenFile({std::nullopt, Token{"a", "", absl::InfiniteFuture(), "x\ny"}}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WriteFileAtomically, ReplacesTheFileWithMode0600AndLeavesNoTemporaryFile) {
  const std::string dir = absl::StrCat(TempDir(), "/atomic-", getpid());
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  const std::string path = dir + "/token";
  const mode_t old_umask = umask(0);  // 0600 whatever the umask
  ASSERT_THAT(WriteFileAtomically(path, "one", "test"), IsOk());
  ASSERT_THAT(WriteFileAtomically(path, "two", "test"), IsOk());
  umask(old_umask);
  absl::StatusOr<std::optional<std::string>> content = ReadWholeFile(path, "test");
  ASSERT_THAT(content.status(), IsOk());
  EXPECT_EQ(**content, "two");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Only the token: no temporary file is left behind.
  int entries = 0;
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  while (dirent* e = readdir(d)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++entries;
  }
  closedir(d);
  EXPECT_EQ(entries, 1);
}

TEST(WriteFileAtomically, ErrorsNameThePathAndMapErrno) {
  EXPECT_THAT(WriteFileAtomically("/nonexistent-dir/token", "x", "token store"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("token store: cannot create /nonexistent-dir/token")));
  EXPECT_THAT(WriteFileAtomically("/proc/version/x", "x", "w"),
              StatusIs(absl::StatusCode::kFailedPrecondition));  // ENOTDIR
  EXPECT_EQ(internal::ErrnoStatus(EACCES, "w", "cannot write", "p").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(internal::ErrnoStatus(ENOSPC, "w", "cannot write", "p").code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::optional<std::string>> missing = ReadWholeFile("/nonexistent-file", "w");
  ASSERT_THAT(missing.status(), IsOk());
  EXPECT_FALSE(missing->has_value());
}

}  // namespace
}  // namespace authrefresh
