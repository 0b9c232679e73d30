// The version the build stamps into interceptor/version.h is the one in the
// file VERSION, the one place it is written.

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "interceptor/authrefresh.h"

namespace {

std::string ReadVersionFile() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  std::ifstream in(absl::StrCat(srcdir ? srcdir : ".", "/authrefresh/VERSION"));
  std::stringstream text;
  text << in.rdbuf();
  return std::string(absl::StripTrailingAsciiWhitespace(text.str()));
}

TEST(Version, IsTheOneInTheVersionFile) {
  const std::string expected = ReadVersionFile();
  ASSERT_FALSE(expected.empty()) << "VERSION not found in the runfiles";
  EXPECT_EQ(authrefresh::Version(), expected);
  EXPECT_STREQ(AUTHREFRESH_VERSION_STRING, expected.c_str());
  EXPECT_EQ(absl::StrCat(AUTHREFRESH_VERSION_MAJOR, ".", AUTHREFRESH_VERSION_MINOR,
                         ".", AUTHREFRESH_VERSION_PATCH),
            expected);
}

}  // namespace
