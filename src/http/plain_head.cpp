#include "http/plain_head.hpp"

#include <algorithm>
#include <cstdint>

#include "http/char_tables.hpp"
#include "http/field_syntax.hpp"
#include "http/request_rules.hpp"

// Why a second path: the general one resumes anywhere, so it keeps its
// place in parse_state between lines and calls a function per piece. On
// wrk's request ("GET / HTTP/1.1" and a Host line) it spent ~810
// instructions, half of weft's user time in the pipelined benchmark. This
// path keeps its state in locals, runs the general path's line scanners
// inline (one SSE2 scan per line, loops that the line's CR ends), and
// checks Host's usual forms inline: ~460 (bench/http/instructions.sh).

namespace weft::http::detail {
namespace {

// The value of n bytes already known to be digits. parse_decimal would
// check each byte again, and its length: 22 more instructions a request
// (bench/http/instructions.sh).
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
  p = skip_run(p, reg_name);
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
    if (!st.host_from_target) set_host(in, f.value, st);
    return true;
  }
  return !field_may_matter(f.name) || apply_field(in, f, st).status == 0;
}

}  // namespace

std::size_t parse_plain_head(std::string_view in, const parse_limits& limits,
                             std::span<header_field> storage, parse_state& st) noexcept {
  if (limits.max_head < 2) return 0;
  std::size_t cr = 0;
  verdict v;
  if (!parse_simple_request_line(in, 0, std::min(limits.max_request_line, limits.max_head - 2), cr,
                                 v, st) ||
      v.status != 0)
    return 0;
  const char* end = in.data() + in.size();
  const std::size_t max_fields = std::min(limits.max_fields, storage.size());
  for (std::size_t n = 0, line = cr + 2;; ++n, line = cr + 2) {
    const char* p = in.data() + line;
    if (end - p < 2) return 0;
    if (*p == '\r') {  // the empty line that ends the head, or a bare CR
      std::size_t size = line + 2;
      if (p[1] != '\n' || size > limits.max_head) return 0;
      st.fields = n;
      return decide_framing(limits, st).status == 0 ? size : 0;
    }
    header_field f;
    if (n == max_fields || !scan_simple_field_line(in, line, limits.max_head, f, cr)) return 0;
    if (!apply_plain_field(in, f, st)) return 0;
    storage[n] = f;
  }
}

}  // namespace weft::http::detail
