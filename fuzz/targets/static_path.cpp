// The static-file path resolver (resolve_static_path). Input: a request
// path. Asserts that whatever it resolves to stays inside the root: no
// absolute path, no empty, "." or ".." segment, no NUL, control byte or
// backslash, valid UTF-8, within the length limits, and no dotfile unless
// they are allowed. Checked with dotfiles allowed and refused. And the
// plain check, which takes the usual path in one scan, agrees with the
// segment walk wherever it answers.

#include <weft/http/static_path.hpp>

#include "fuzz_check.hpp"
#include "http/static_path_detail.hpp"

namespace {

using namespace weft::http;

void check_confined(std::string_view path, bool dotfiles) {
  resolved_path r = resolve_static_path(path, dotfiles);
  if (r.status != 0) {
    FUZZ_CHECK(r.status == 400 || r.status == 404);
    return;
  }
  std::string_view rel = r.relative;
  FUZZ_CHECK(rel.size() <= max_relative && valid_utf8(rel));
  for (unsigned char c : rel) FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '\\');
  if (rel.empty()) return;  // the root itself
  // Walking the segments, the depth below the root never goes negative.
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = rel.find('/', start);
    std::string_view seg = rel.substr(start, slash - start);
    FUZZ_CHECK(!seg.empty() && seg.size() <= max_segment && seg != "." && seg != "..");
    FUZZ_CHECK(dotfiles || seg.front() != '.');
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  // Decoding happens once: a resolved path without '%' resolves to itself.
  if (rel.find('%') == std::string_view::npos) {
    resolved_path again = resolve_static_path("/" + r.relative, dotfiles);
    FUZZ_CHECK(again.status == 0 && again.relative == r.relative);
  }
}

void check_plain_agrees(std::string_view path) {
  resolved_path fast;
  if (!detail::plain_static_path(path, fast)) return;
  for (bool dotfiles : {false, true}) {
    resolved_path walked = detail::walk_static_path(path, dotfiles);
    FUZZ_CHECK(walked.status == fast.status && walked.relative == fast.relative &&
               walked.directory_form == fast.directory_form);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view path = weft::fuzz::as_text(data, size);
  check_confined(path, false);
  check_confined(path, true);
  check_plain_agrees(path);
  return 0;
}
