// content_type_for: the built-in table.
#include <weft/http/content_type.hpp>

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace weft::http {
namespace {

TEST(content_type_for, covers_the_web_formats) {
  std::vector<std::pair<std::string, std::string>> rows = {
      {"index.html", "text/html; charset=utf-8"},
      {"style.css", "text/css; charset=utf-8"},
      {"app.js", "text/javascript; charset=utf-8"},
      {"mod.mjs", "text/javascript; charset=utf-8"},
      {"data.json", "application/json"},
      {"logo.svg", "image/svg+xml"},
      {"a.png", "image/png"},
      {"a.jpg", "image/jpeg"},
      {"a.jpeg", "image/jpeg"},
      {"a.gif", "image/gif"},
      {"a.webp", "image/webp"},
      {"a.avif", "image/avif"},
      {"favicon.ico", "image/vnd.microsoft.icon"},
      {"m.wasm", "application/wasm"},
      {"v.mp4", "video/mp4"},
      {"v.webm", "video/webm"},
      {"s.mp3", "audio/mpeg"},
      {"f.woff2", "font/woff2"},
      {"doc.pdf", "application/pdf"},
      {"notes.txt", "text/plain; charset=utf-8"},
      {"README.md", "text/markdown; charset=utf-8"},
  };
  for (const auto& [name, type] : rows) EXPECT_EQ(content_type_for(name), type) << name;
}

TEST(content_type_for, ignores_case_and_directories) {
  EXPECT_EQ(content_type_for("PHOTO.JPG"), "image/jpeg");
  EXPECT_EQ(content_type_for("Index.Html"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_for("a.b/c.png"), "image/png");
  EXPECT_EQ(content_type_for("a.html/noext"), "application/octet-stream");
}

TEST(content_type_for, unknown_is_octet_stream) {
  for (std::string n : {"Makefile", "a.exe", "a.", ".png", "archive.tar.xz", "", "x.htmlx"})
    EXPECT_EQ(content_type_for(n), "application/octet-stream") << n;
}

}  // namespace
}  // namespace weft::http
