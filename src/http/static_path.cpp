#include <weft/http/static_path.hpp>

#include "http/percent_decode.hpp"
#include "static_path_detail.hpp"

#include <array>

namespace weft::http {
namespace {

// Decodes one raw segment into `out`. False on a bad escape or a decoded
// byte that may not appear in a file name we serve.
bool decode_segment(std::string_view raw, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == '%') {
      if (i + 2 >= raw.size()) return false;  // needs two hex digits
      int hi = detail::hex_digit(raw[i + 1]), lo = detail::hex_digit(raw[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<unsigned char>(hi * 16 + lo);
      i += 2;
    }
    // A decoded '/' would become a separator; a backslash is one on other
    // systems and in some proxies. Control bytes have no business in a name.
    if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f) return false;
    out.push_back(static_cast<char>(c));
  }
  return true;
}

}  // namespace

bool valid_utf8(std::string_view bytes) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    unsigned char lo = 0x80, hi = 0xbf;  // the bounds of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return false;  // 0x80..0xc1 (continuation, overlong 2-byte), 0xf5..
    }
    if (end - p <= extra) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (int k = 2; k <= extra; ++k)
      if (p[k] < 0x80 || p[k] > 0xbf) return false;
    p += extra + 1;
  }
  return true;
}

namespace detail {

resolved_path walk_static_path(std::string_view path, bool allow_dotfiles) {
  resolved_path r;
  if (path.empty() || path.front() != '/') return {400, {}, false};
  r.directory_form = path.back() == '/';
  std::string seg;
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string_view raw = path.substr(0, slash);
    path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
    if (!decode_segment(raw, seg) || !valid_utf8(seg)) return {400, {}, false};
    // No file has a longer name (NAME_MAX, and PATH_MAX below): not found,
    // as the open's ENAMETOOLONG is and as nginx answers. It was a 400 for
    // a request that broke no rule (found by a conformance probe).
    if (seg.size() > max_segment) return {404, {}, false};
    // A final "." leaves the path ending in '/' (RFC 3986 §5.2.4), so
    // "/a.txt/." names a directory, as "/a.txt/" does, not the file. A
    // final ".." does too, but a listing served at "/a/b/.." would resolve
    // its relative links against "/a/b/": without the directory form, a
    // directory there gets the 301 to the slash form, which a client
    // resolves to "/a/".
    if (seg == "." && path.empty()) r.directory_form = true;
    if (seg.empty() || seg == ".") continue;
    // "..", however it was spelled, drops the segment before it, as nginx
    // and RFC 3986 §5.2.4 do; one that would climb above the root is a 400
    // (RFC 3986 would drop it; a request that tries is hostile).
    if (seg == "..") {
      if (r.relative.empty()) return {400, {}, false};
      auto last = r.relative.rfind('/');
      r.relative.resize(last == std::string::npos ? 0 : last);
      continue;
    }
    if (seg.front() == '.' && !allow_dotfiles) return {404, {}, false};
    if (!r.relative.empty()) r.relative.push_back('/');
    r.relative += seg;
    if (r.relative.size() > max_relative) return {404, {}, false};
  }
  return r;
}

namespace {
// pchar bytes that need no decoding and no second look (RFC 3986 §3.3):
// unreserved, sub-delims, ':' and '@'. Not '%', '\\', '/', controls or
// anything outside ASCII.
constexpr std::array<bool, 256> plain_bytes = [] {
  std::array<bool, 256> t{};
  for (unsigned char c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (unsigned char c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (unsigned char c = '0'; c <= '9'; ++c) t[c] = true;
  for (unsigned char c : std::string_view("-._~!$&'()*+,;=:@")) t[c] = true;
  return t;
}();
}  // namespace

bool plain_static_path(std::string_view path, resolved_path& out) {
  std::size_t n = path.size();
  if (n == 0 || path.front() != '/' || n > max_relative + 2) return false;
  std::size_t seg = 1;  // where the current segment starts
  for (std::size_t i = 1; i < n; ++i) {
    auto c = static_cast<unsigned char>(path[i]);
    if (c != '/') {
      if (!plain_bytes[c] || (i == seg && c == '.')) return false;
      continue;
    }
    if (i == seg || i - seg > max_segment) return false;  // empty, or too long
    seg = i + 1;
  }
  if (n - seg > max_segment) return false;
  out.directory_form = path.back() == '/';
  std::size_t len = n - 1 - (out.directory_form && n > 1 ? 1 : 0);
  if (len > max_relative) return false;
  out.status = 0;
  out.relative.assign(path.data() + 1, len);
  return true;
}

}  // namespace detail

// The usual path goes through one scan and one copy; the walk, which
// decoded and appended byte by byte, cost ~570 instructions for
// "/file.bin" (callgrind, SERVER=files bench/http/instructions.sh).
resolved_path resolve_static_path(std::string_view path, bool allow_dotfiles) {
  resolved_path r;
  if (detail::plain_static_path(path, r)) return r;
  return detail::walk_static_path(path, allow_dotfiles);
}

}  // namespace weft::http
