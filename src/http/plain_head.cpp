#include "http/plain_head.hpp"

#include <algorithm>
#include <cstdint>

#include "http/byte_scans.hpp"
#include "http/char_tables.hpp"
#include "http/field_syntax.hpp"
#include "http/request_rules.hpp"

// Why a second path: the general one resumes anywhere, so it keeps its
// place in parse_state between lines and calls a function per piece. On
// wrk's request ("GET / HTTP/1.1" and a Host line) it spent ~810
// instructions, half of weft's user time in the pipelined benchmark. This
// path keeps its state in locals, runs the general path's line scanners
// inline (one SSE2 scan per line, loops that the line's CR ends), and
// checks Host's usual forms inline: ~460 (bench/http/instructions.sh);
// ~320 since the usual Host line is taken whole in one SSE2 pass.

namespace weft::http::detail {
namespace {

// Whether five digits are at most 65535. Digit strings of one length sort
// as their values do, and the first four compare as one big-endian word:
// ~8 instructions, where computing the value cost 30 a request
// (bench/http/instructions.sh).
bool at_most_65535(const char* digits) noexcept {
  std::uint32_t head = __builtin_bswap32(load4(digits)), max = __builtin_bswap32(load4("6553"));
  return head < max || (head == max && digits[4] <= '5');
}

// Whether the `size` bytes (fewer than 16) at h, classed in `m`, are a host
// in the forms plain_host takes. False leaves the host to the field line's
// general path, never refuses it.
bool fits_plain_host(const host_masks& m, std::size_t size, const char* h) noexcept {
  const unsigned all = (1u << size) - 1;
  unsigned colon = m.colon & all;
  if (colon == 0) return size != 0 && (m.name & all) == all;
  // One colon after a name of one byte or more, and only digits after it.
  unsigned at = static_cast<unsigned>(__builtin_ctz(colon)), name = (1u << at) - 1;
  unsigned port = all & ~name & ~colon;
  if (at == 0 || (colon & (colon - 1)) != 0 || (m.name & name) != name || (m.digit & port) != port)
    return false;
  std::size_t n = size - at - 1;  // at most 65535: see plain_host
  return n < 5 || (n == 5 && at_most_65535(h + at + 1));
}

// The usual Host line whole: "Host: " (in any case), a host of fewer than 16
// bytes in the forms fits_plain_host takes, and CRLF. One SSE2 pass finds
// the host's end and checks its bytes, where the field line's scan, the
// walk of its name, the trim of its value and the host's walk cost ~80
// instructions more (bench/http/instructions.sh). Fills `f` and `cr` as
// scan_simple_field_line would; false, having changed nothing, leaves the
// line to it. A CRLF past the head limit needs no test here: the head's
// end, after it, is tested against the limit.
bool take_plain_host_line(std::string_view in, std::size_t line, header_field& f,
                          std::size_t& cr) noexcept {
#if defined(__SSE2__)
  const char* p = in.data() + line;
  const char* v = p + 6;
  // "Host: " as one word: the OR lower-cases the four letters (and maps no
  // other byte to one), the mask drops the two bytes after the SP.
  if (in.data() + in.size() - v < 17 ||
      ((load8(p) | 0x20202020u) & 0xffff'ffff'ffffu) != word("host: "))
    return false;
  host_masks m = classify_host16(v);
  // The first byte that is neither a host byte nor ':' must be the CR of
  // the line's CRLF, within the 16 bytes classed; 17 are readable, so the
  // LF after a CR at v[15] is too.
  auto size = static_cast<unsigned>(__builtin_ctz(~(m.name | m.colon)));
  if (size >= 16 || v[size] != '\r' || v[size + 1] != '\n' || !fits_plain_host(m, size, v))
    return false;
  f.name = std::string_view(p, 4);
  f.value = std::string_view(v, size);
  cr = static_cast<std::size_t>(v + size - in.data());
  return true;
#else
  (void)in, (void)line, (void)f, (void)cr;
  return false;
#endif
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
      if (p == end && (n < 5 || (n == 5 && at_most_65535(digits)))) return true;
    }
  }
  return valid_host(h, false);
}

// Counts a Host whose value is acceptable, and records it unless the
// target named the host: false for a second Host.
bool count_host(std::string_view in, std::string_view value, parse_state& st) noexcept {
  if (++st.host_fields > 1) return false;
  if (!st.host_from_target) set_host(in, value, st);
  return true;
}

// Host is checked here in its usual forms; the other fields that decide
// framing go to apply_field, and the rest need nothing.
bool apply_plain_field(std::string_view in, const header_field& f, parse_state& st) noexcept {
  // OR-ing in 0x20 lower-cases a letter, and maps no other byte to one.
  if (f.name.size() == 4 && (load4(f.name.data()) | 0x20202020u) == word("host"))
    return plain_host(f.value) && count_host(in, f.value, st);
  return !field_may_matter(f.name) || apply_field(in, f, st).status == 0;
}

}  // namespace

// Cleared once a request, below: GCC 12 clears up to 80 bytes with vector
// stores and more with `rep stosq` (see parse_state).
static_assert(sizeof(parse_state) <= 80, "parse_state outgrew a clear by vector stores");

std::size_t parse_plain_head(std::string_view in, const parse_limits& limits,
                             std::span<header_field> storage, request_head& out) noexcept {
  if (limits.max_head < 2) return 0;
  in = within_state_offsets(in);
  parse_state st;
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
      // decide_framing has nothing to refuse in a head with no body that has
      // its Host (a call that cost ~15 instructions a request).
      bool usual = !st.has_te && !st.has_cl && (st.host_fields != 0 || st.version_minor == 0);
      if (!usual && decide_framing(limits, st).status != 0) return 0;
      fill_head(in, storage, out, st);
      return size;
    }
    header_field f;
    if (n == max_fields) return 0;
    bool taken = take_plain_host_line(in, line, f, cr)
                     ? count_host(in, f.value, st)
                     : scan_simple_field_line(in, line, limits.max_head, f, cr) &&
                           apply_plain_field(in, f, st);
    if (!taken) return 0;
    storage[n] = f;
  }
}

}  // namespace weft::http::detail
