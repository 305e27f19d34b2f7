// The directory listing page: escaping, order, and the parent link.
#include "http/dir_listing.hpp"

#include <gtest/gtest.h>

namespace weft::http::detail {
namespace {

TEST(html_escape, escapes_markup_and_quotes) {
  EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(html_escape("plain caf\xc3\xa9"), "plain caf\xc3\xa9");
}

TEST(url_escape_segment, keeps_only_unreserved_bytes) {
  EXPECT_EQ(url_escape_segment("a b"), "a%20b");
  EXPECT_EQ(url_escape_segment("a:b"), "a%3Ab");  // not a scheme
  EXPECT_EQ(url_escape_segment("#?%&\"<"), "%23%3F%25%26%22%3C");
  EXPECT_EQ(url_escape_segment("caf\xc3\xa9"), "caf%C3%A9");
  EXPECT_EQ(url_escape_segment("A-z_0.9~"), "A-z_0.9~");
}

TEST(human_size, picks_a_readable_unit) {
  EXPECT_EQ(human_size(0), "0 B");
  EXPECT_EQ(human_size(1023), "1023 B");
  EXPECT_EQ(human_size(1024), "1.0 KiB");
  EXPECT_EQ(human_size(1536), "1.5 KiB");
  EXPECT_EQ(human_size(100u << 20), "100.0 MiB");
  EXPECT_EQ(human_size(5ull << 30), "5.0 GiB");
}

TEST(render_listing, sorts_directories_first_then_names) {
  std::string page = render_listing("sub", {{"b.txt", false, 1, 0},
                                            {"zdir", true, 0, 0},
                                            {"a.txt", false, 2048, 0},
                                            {"adir", true, 0, 0}});
  auto at = [&](std::string_view s) { return page.find(s); };
  ASSERT_NE(at("href=\"adir/\""), std::string::npos);
  EXPECT_LT(at("href=\"../\""), at("href=\"adir/\""));
  EXPECT_LT(at("href=\"adir/\""), at("href=\"zdir/\""));
  EXPECT_LT(at("href=\"zdir/\""), at("href=\"a.txt\""));
  EXPECT_LT(at("href=\"a.txt\""), at("href=\"b.txt\""));
  EXPECT_NE(at("2.0 KiB"), std::string::npos);
  EXPECT_NE(at("Index of /sub/"), std::string::npos);
}

TEST(render_listing, escapes_hostile_names_in_text_and_hrefs) {
  std::string evil = "<script>alert(1)</script>\"'&.html";
  std::string page = render_listing("<b>", {{evil, false, 1, 0}});
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_EQ(page.find("<b>"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;.html"),
            std::string::npos);
  EXPECT_NE(page.find("href=\"%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%27%26.html\""),
            std::string::npos);
}

TEST(render_listing, the_root_has_no_parent_link) {
  EXPECT_EQ(render_listing("", {}).find("href=\"../\""), std::string::npos);
  EXPECT_NE(render_listing("", {}).find("Index of /<"), std::string::npos);
}

}  // namespace
}  // namespace weft::http::detail
