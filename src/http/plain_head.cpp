#include "http/plain_head.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>

#include "http/byte_scans.hpp"
#include "http/char_tables.hpp"
#include "http/request_rules.hpp"

// Why a second path: the general one resumes anywhere, so it keeps its
// place in parse_state between lines and calls a function per piece. On
// wrk's request ("GET / HTTP/1.1" and a Host line) it spent ~810
// instructions, half of weft's user time in the pipelined benchmark; this
// path, with one SSE2 scan per line, loops that a known final byte ends,
// and Host's usual forms checked inline, spends ~430
// (bench/http/instructions.sh, callgrind).

namespace weft::http::detail {
namespace {

static_assert(std::endian::native == std::endian::little, "words are compared as loaded");

std::uint32_t load4(const char* p) noexcept {
  std::uint32_t x;
  __builtin_memcpy(&x, p, 4);
  return x;
}

std::uint64_t load8(const char* p) noexcept {
  std::uint64_t x;
  __builtin_memcpy(&x, p, 8);
  return x;
}

// The bytes of a string literal as one little-endian word, to compare with
// a load of as many bytes.
template <std::size_t N>
constexpr std::uint64_t word(const char (&s)[N]) noexcept {
  std::uint64_t w = 0;
  for (std::size_t i = N - 1; i-- > 0;) w = w << 8 | static_cast<unsigned char>(s[i]);
  return w;
}

// "method SP target SP HTTP/1.x CRLF" with its CR at most at `limit`,
// recorded in `st`. Returns the CR's index, or 0. The general path's
// parse_simple_request_line reads the same bytes the same way, with a
// call per piece.
std::size_t plain_request_line(std::string_view in, std::size_t limit, parse_state& st) noexcept {
  const char* p = in.data();
  const char* end = p + in.size();
  std::size_t m = in.size() >= 4 && load4(p) == word("GET ") ? 3 : span_of(in, tchar);
  if (m == 0 || m == in.size() || p[m] != ' ') return 0;
  const char* t = p + m + 1;
  const char* v = find_bad_target_byte(t, end);
  if (v == t || end - v < 11 || load8(v) != word(" HTTP/1.") || (v[8] != '0' && v[8] != '1') ||
      v[9] != '\r' || v[10] != '\n')
    return 0;
  std::size_t cr = static_cast<std::size_t>(v - p) + 9;
  if (cr > limit) return 0;
  std::string_view method(p, m), target(t, static_cast<std::size_t>(v - t));
  st.method_len = m;  // method_off is 0
  st.target_off = m + 1;
  st.target_len = target.size();
  st.version_minor = static_cast<std::uint8_t>(v[8] - '0');
  // An origin-form target without pct-encoded octets needs nothing more.
  bool origin =
      *t == '/' && find_byte(target, '%') == std::string_view::npos && method != "CONNECT";
  if (!origin && check_target(in, method, target, st).status != 0) return 0;
  return cr;
}

unsigned decimal(const char* digits, int n) noexcept {
  unsigned v = 0;
  for (int i = 0; i < n; ++i) v = v * 10 + static_cast<unsigned>(digits[i] - '0');
  return v;
}

// uri-host [":" port] in its usual forms, a reg-name (IPv4 addresses are
// reg-names too) and a port of at most five digits; valid_host decides the
// rest. The byte after `h` is a CR, SP or HTAB, none of which a host or a
// port holds, so it ends each loop without a bounds check.
bool plain_host(std::string_view h) noexcept {
  const char* p = h.data();
  const char* end = p + h.size();
  while (is(p[0], reg_name) && is(p[1], reg_name) && is(p[2], reg_name) && is(p[3], reg_name))
    p += 4;
  while (is(*p, reg_name)) ++p;
  if (p != h.data()) {
    if (p == end) return true;
    if (*p == ':') {
      const char* digits = ++p;
      while (is_digit(*p)) ++p;
      // At most 65535: four digits or fewer, or five of value no more.
      std::ptrdiff_t n = p - digits;
      if (p == end && (n < 5 || (n == 5 && decimal(digits, 5) <= 65535))) return true;
    }
  }
  return valid_host(h, false);
}

// Host is checked here in its usual forms; the other fields that decide
// framing go to apply_field, and the rest need nothing.
bool apply_plain_field(std::string_view in, const header_field& f, parse_state& st) noexcept {
  // OR-ing in 0x20 lower-cases a letter, and maps no other byte to one.
  if (f.name.size() == 4 && (load4(f.name.data()) | 0x20202020u) == word("host")) {
    if (++st.host_fields > 1 || !plain_host(f.value)) return false;
    if (!st.host_from_target) {
      st.host_off = static_cast<std::size_t>(f.value.data() - in.data());
      st.host_len = f.value.size();
    }
    return true;
  }
  return !field_may_matter(f.name) || apply_field(in, f, st).status == 0;
}

}  // namespace

std::size_t parse_plain_head(std::string_view in, const parse_limits& limits,
                             std::span<header_field> storage, parse_state& st) noexcept {
  if (limits.max_head < 2) return 0;
  std::size_t cr =
      plain_request_line(in, std::min(limits.max_request_line, limits.max_head - 2), st);
  if (cr == 0) return 0;
  const char* p = in.data() + cr + 2;
  const char* end = in.data() + in.size();
  const std::size_t max_fields = std::min(limits.max_fields, storage.size());
  for (std::size_t n = 0;; ++n) {
    if (end - p < 2) return 0;
    if (*p == '\r') {  // the empty line that ends the head, or a bare CR
      auto size = static_cast<std::size_t>(p + 2 - in.data());
      if (p[1] != '\n' || size > limits.max_head) return 0;
      st.fields = n;
      return decide_framing(limits, st).status == 0 ? size : 0;
    }
    // A field name and its colon are field bytes as well, so the line's
    // first byte that a value may not hold must be the CR of its CRLF.
    const char* q = find_bad_value_byte(p, end);
    if (q == end || *q != '\r' || end - q < 2 || q[1] != '\n' || n == max_fields) return 0;
    const char* colon = p;  // the CR at q stops each loop at the latest
    while (is(colon[0], tchar) && is(colon[1], tchar) && is(colon[2], tchar) && is(colon[3], tchar))
      colon += 4;
    while (is(*colon, tchar)) ++colon;
    if (colon == p || *colon != ':') return 0;
    const char* v = colon + 1;
    const char* v_end = q;
    while (v < v_end && is_ows(*v)) ++v;
    while (v_end > v && is_ows(v_end[-1])) --v_end;
    header_field f{{p, static_cast<std::size_t>(colon - p)},
                   {v, static_cast<std::size_t>(v_end - v)}};
    if (!apply_plain_field(in, f, st)) return 0;
    storage[n] = f;
    p = q + 2;
  }
}

}  // namespace weft::http::detail
