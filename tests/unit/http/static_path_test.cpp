// resolve_static_path: what a request path may name beneath a root.
#include <weft/http/static_path.hpp>

#include "http/static_path_detail.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace weft::http {
namespace {

using namespace std::string_literals;

struct resolve_case {
  std::string in;
  int status;
  std::string relative;
  bool directory_form;
};

TEST(resolve_static_path, plain_paths_are_decoded_once_and_normalized) {
  std::vector<resolve_case> cases = {
      {"/", 0, "", true},
      {"/index.html", 0, "index.html", false},
      {"/a/b/c.txt", 0, "a/b/c.txt", false},
      {"/docs/", 0, "docs", true},
      {"//a///b//", 0, "a/b", true},
      {"/./a/./b", 0, "a/b", false},
      {"/a%20b.txt", 0, "a b.txt", false},
      {"/%41%62c", 0, "Abc", false},
      {"/%2541", 0, "%41", false},  // decoded once: "%25" is "%", then "41"
      {"/caf%C3%A9", 0, "caf\xc3\xa9", false},
      {"/caf\xc3\xa9", 0, "caf\xc3\xa9", false},
      {"/\xe2\x82\xac", 0, "\xe2\x82\xac", false},
      {"/\xf0\x9f\x98\x80.png", 0, "\xf0\x9f\x98\x80.png", false},
      {"/a+b", 0, "a+b", false},  // '+' is not a space in a path
      {"/a..b", 0, "a..b", false},
      {"/...", 0, "...", false},  // not a dot segment, but a dotfile name
      // A final dot segment leaves the path ending in '/' (RFC 3986
      // §5.2.4): "/a.txt/." names a directory, as "/a.txt/" does, never the
      // file (found by review: it served the file).
      {"/a.txt/.", 0, "a.txt", true},
      {"/a.txt/%2e", 0, "a.txt", true},
      {"/a.txt/%2E", 0, "a.txt", true},
      {"/sub/./", 0, "sub", true},
      {"/.", 0, "", true},
      // ".." within the root is applied, however spelled, as nginx does
      // (RFC 3986 §5.2.4); a final one names a directory. It was refused
      // with 400, though the issue asks for a normalized path.
      {"/a/../b.txt", 0, "b.txt", false},
      {"/a/b/../c.txt", 0, "a/c.txt", false},
      {"/a/%2e%2e/b.txt", 0, "b.txt", false},
      {"/a/.%2E/b/%2e./c", 0, "c", false},
      // A final ".." leaves the directory form to the redirect, so that a
      // listing is never served where its relative links misresolve.
      {"/a/b/..", 0, "a", false},
      {"/a/..", 0, "", false},
      {"/a/../", 0, "", true},
      {"//a//..//b", 0, "b", false},
  };
  for (const auto& c : cases) {
    bool dot = c.in == "/...";
    resolved_path r = resolve_static_path(c.in, dot);
    EXPECT_EQ(r.status, c.status) << c.in;
    EXPECT_EQ(r.relative, c.relative) << c.in;
    EXPECT_EQ(r.directory_form, c.directory_form) << c.in;
  }
}

TEST(resolve_static_path, hostile_paths_are_refused) {
  std::vector<std::string> hostile = {
      "",
      "a/b",
      "*",
      "/..",
      "/../etc/passwd",
      "/a/../../etc/passwd",
      "/a/b/../../../x",
      "/a/../..",
      "/%2e%2e/etc/passwd",
      "/%2E%2E/etc/passwd",
      "/.%2e/x",
      "/%2e./x",
      "/a/%2e%2e/%2e%2e/x",
      "/..%2fetc%2fpasswd",
      "/a%2fb",
      "/a%2Fb",
      "/%2f",
      "/a%5cb",
      "/..\\..\\x",
      "/a\\b",
      "/a%00.html",
      "/a\0b"s,
      "/%0a",
      "/%0d%0aSet-Cookie:x",
      "/%7f",
      "/%1b[31m",
      "/%",
      "/%2",
      "/%zz",
      "/%c0%ae%c0%ae/x",  // overlong "."
      "/%c0%af",          // overlong "/"
      "/%e0%80%ae",       // overlong "." in 3 bytes
      "/%f0%80%80%ae",    // in 4 bytes
      "/%ed%a0%80",       // a surrogate
      "/%f4%90%80%80",    // above U+10FFFF
      "/%ff",
      "/%c3",                 // truncated
      "/\xc0\xae\xc0\xae/x",  // raw overlong
      "/\x80",
  };
  for (const auto& h : hostile) {
    resolved_path r = resolve_static_path(h, true);
    EXPECT_EQ(r.status, 400) << h;
    EXPECT_TRUE(r.relative.empty()) << h;
  }
}

TEST(resolve_static_path, dotfiles_are_hidden_unless_allowed) {
  for (std::string p :
       {"/.env", "/.git/config", "/a/.hidden/b", "/%2egit/HEAD", "/.well-known/x"}) {
    EXPECT_EQ(resolve_static_path(p, false).status, 404) << p;
    EXPECT_EQ(resolve_static_path(p, true).status, 0) << p;
  }
  EXPECT_EQ(resolve_static_path("/.git/config", true).relative, ".git/config");
}

// No file can have such a name (NAME_MAX, PATH_MAX), so it is not found:
// a 404, as the open's ENAMETOOLONG is and as nginx answers, not a 400 for
// a request that broke no rule.
TEST(resolve_static_path, names_too_long_for_the_file_system_are_not_found) {
  EXPECT_EQ(resolve_static_path("/" + std::string(255, 'a'), false).status, 0);
  EXPECT_EQ(resolve_static_path("/" + std::string(256, 'a'), false).status, 404);
  EXPECT_EQ(resolve_static_path("/%61" + std::string(255, 'a'), false).status, 404);
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "/" + std::string(20, 'd');
  EXPECT_EQ(resolve_static_path(deep, false).status, 404);
  EXPECT_EQ(resolve_static_path(deep + "/..", false).status, 404);
}

TEST(resolve_static_path, every_result_is_a_clean_relative_path) {
  // Random bytes from an alphabet rich in the dangerous ones: whatever
  // comes out obeys the header's guarantees.
  const std::string alphabet = "/.%2eEfF5cC0a\\\x00\x01\xc0\xae\xe2\x82\xac"s;
  std::uint32_t seed = 12345;
  for (int n = 0; n < 20000; ++n) {
    std::string in = "/";
    int len = static_cast<int>(seed % 24);
    for (int i = 0; i < len; ++i) {
      seed = seed * 1103515245 + 12345;
      in += alphabet[(seed >> 16) % alphabet.size()];
    }
    seed = seed * 1103515245 + 12345;
    resolved_path r = resolve_static_path(in, (seed & 1) != 0);
    if (r.status != 0) continue;
    ASSERT_TRUE(r.relative.empty() || r.relative.front() != '/') << in;
    std::string_view rest = r.relative;
    while (!rest.empty()) {
      auto slash = rest.find('/');
      std::string_view seg = rest.substr(0, slash);
      rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
      ASSERT_FALSE(seg.empty()) << in;
      ASSERT_NE(seg, ".") << in;
      ASSERT_NE(seg, "..") << in;
      ASSERT_EQ(seg.find('\0'), std::string_view::npos) << in;
      ASSERT_EQ(seg.find('\\'), std::string_view::npos) << in;
      ASSERT_TRUE(valid_utf8(seg)) << in;
    }
  }
}

// The plain check takes the usual path in one scan; where it answers, it
// must answer as the walk does.
TEST(plain_static_path, takes_the_usual_paths) {
  for (const std::string& in :
       std::vector<std::string>{"/", "/file.bin", "/a/b/c.txt", "/docs/", "/A-z_0.9~",
                                "/a:b@c!$&'()*+,;=", "/x/" + std::string(255, 'n')}) {
    resolved_path r;
    EXPECT_TRUE(detail::plain_static_path(in, r)) << in;
  }
  for (const std::string& in : std::vector<std::string>{
           "", "x", "//", "/a//b", "/./a", "/a/.", "/..", "/.hidden", "/a/.git/x", "/%41", "/a\\b",
           "/caf\xc3\xa9", "/a b", "/x/" + std::string(256, 'n')}) {
    resolved_path r;
    EXPECT_FALSE(detail::plain_static_path(in, r)) << in;
  }
}

TEST(plain_static_path, agrees_with_the_walk_wherever_it_answers) {
  const std::string alphabet = "//..aZ9~-_%2e:@!+\\\x00\x7f\xc3\xa9"s;
  std::uint32_t seed = 777;
  int answered = 0;
  for (int n = 0; n < 50000; ++n) {
    std::string in = "/";
    seed = seed * 1103515245 + 12345;
    int len = static_cast<int>((seed >> 16) % 20);
    for (int i = 0; i < len; ++i) {
      seed = seed * 1103515245 + 12345;
      in += alphabet[(seed >> 16) % alphabet.size()];
    }
    resolved_path fast;
    if (!detail::plain_static_path(in, fast)) continue;
    ++answered;
    for (bool dotfiles : {false, true}) {
      resolved_path walked = detail::walk_static_path(in, dotfiles);
      ASSERT_EQ(fast.status, walked.status) << in;
      ASSERT_EQ(fast.relative, walked.relative) << in;
      ASSERT_EQ(fast.directory_form, walked.directory_form) << in;
    }
  }
  EXPECT_GT(answered, 1000);  // the check is exercised, not just skipped
}

TEST(plain_static_path, agrees_with_the_walk_at_the_length_limits) {
  std::vector<std::string> cases = {"/" + std::string(255, 'a'), "/" + std::string(255, 'a') + "/"};
  std::string deep;
  while (deep.size() < max_relative + 8) {
    deep += "/" + std::string(15, 'd');
    cases.push_back(deep);
    cases.push_back(deep + "/");
  }
  for (const std::string& in : cases) {
    resolved_path fast, walked = detail::walk_static_path(in, false);
    if (!detail::plain_static_path(in, fast)) {
      EXPECT_TRUE(walked.status != 0 || in.size() > max_relative + 1) << in.size();
      continue;
    }
    EXPECT_EQ(fast.status, walked.status) << in.size();
    EXPECT_EQ(fast.relative, walked.relative) << in.size();
  }
}

TEST(valid_utf8, accepts_well_formed_and_refuses_the_rest) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("ascii"));
  EXPECT_TRUE(valid_utf8("\xc2\x80"));
  EXPECT_TRUE(valid_utf8("\xed\x9f\xbf"));       // U+D7FF
  EXPECT_TRUE(valid_utf8("\xee\x80\x80"));       // U+E000
  EXPECT_TRUE(valid_utf8("\xf4\x8f\xbf\xbf"));   // U+10FFFF
  EXPECT_FALSE(valid_utf8("\xc1\xbf"));          // overlong
  EXPECT_FALSE(valid_utf8("\xe0\x9f\xbf"));      // overlong
  EXPECT_FALSE(valid_utf8("\xf0\x8f\xbf\xbf"));  // overlong
  EXPECT_FALSE(valid_utf8("\xed\xbf\xbf"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(valid_utf8("\xe2\x82"));      // truncated
  EXPECT_FALSE(valid_utf8("\xe2\x28\xac"));  // bad continuation
}

}  // namespace
}  // namespace weft::http
