#include <weft/http/static_path.hpp>

namespace weft::http {
namespace {

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one raw segment into `out`. False on a bad escape or a decoded
// byte that may not appear in a file name we serve.
bool decode_segment(std::string_view raw, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == '%') {
      if (i + 2 >= raw.size()) return false;  // needs two hex digits
      int hi = hex_digit(raw[i + 1]), lo = hex_digit(raw[i + 2]);
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

resolved_path resolve_static_path(std::string_view path, bool allow_dotfiles) {
  resolved_path r;
  if (path.empty() || path.front() != '/') return {400, {}, false};
  r.directory_form = path.back() == '/';
  std::string seg;
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string_view raw = path.substr(0, slash);
    path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
    if (!decode_segment(raw, seg) || !valid_utf8(seg) || seg.size() > max_segment)
      return {400, {}, false};
    if (seg.empty() || seg == ".") continue;
    // "..", however it was spelled, is refused rather than applied:
    // browsers resolve dot segments before sending, so only a hand-made
    // request has one.
    if (seg == "..") return {400, {}, false};
    if (seg.front() == '.' && !allow_dotfiles) return {404, {}, false};
    if (!r.relative.empty()) r.relative.push_back('/');
    r.relative += seg;
    if (r.relative.size() > max_relative) return {400, {}, false};
  }
  return r;
}

}  // namespace weft::http
