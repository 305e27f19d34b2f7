#pragma once
// Scans for the first byte of a class over a head's bytes, 16 at a time with
// SSE2. Inline: the request parser's fast path runs one per line, and a call
// costs as much as the scan of a short line. Loads never pass `end`, so the
// scans are clean under ASan.

#include "http/char_tables.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace weft::http::detail {

// The first CR or LF in [p, end), or end.
inline const char* find_cr_or_lf(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
    if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
  }
#endif
  while (p < end && *p != '\r' && *p != '\n') ++p;
  return p;
}

// The first byte in [p, end) that a field value may not hold (a control
// character other than HTAB, or DEL), or end. obs-text (0x80-0xff) is allowed.
inline const char* find_bad_value_byte(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  const __m128i x1f = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t'), del = _mm_set1_epi8(0x7f);
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, x1f), x1f);  // unsigned v <= 0x1f
    __m128i bad =
        _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl), _mm_cmpeq_epi8(v, del));
    int m = _mm_movemask_epi8(bad);
    if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
  }
#endif
  while (p < end && is(*p, field_byte)) ++p;
  return p;
}

// The first byte in [p, end) that may not appear in a request-target, or end.
inline const char* find_bad_target_byte(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  // Signed compares: 0x80-0xff are negative, so "> 0x20 and < 0x7f" is
  // exactly the visible ASCII range.
  const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f), hash = _mm_set1_epi8('#');
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i good = _mm_and_si128(_mm_cmpgt_epi8(v, sp), _mm_cmplt_epi8(v, del));
    int m = _mm_movemask_epi8(_mm_andnot_si128(_mm_cmpeq_epi8(v, hash), good)) ^ 0xffff;
    if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
  }
#endif
  while (p < end && is(*p, target_byte)) ++p;
  return p;
}

// The usual Host value's bytes, classed 16 at a time from p (which must
// have 16 readable bytes): bit i of `name` is set when byte i is a letter,
// digit, '.' or '-' (the reg-name bytes of a DNS name or an IPv4 address),
// of `digit` when it is a digit, of `colon` when it is ':'.
struct host_masks {
  unsigned name = 0, digit = 0, colon = 0;
};
#if defined(__SSE2__)
inline host_masks classify_host16(const char* p) noexcept {
  __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // OR-ing in 0x20 lower-cases a letter and maps no other byte to one.
  __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
  __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
  __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
  __m128i dot_dash =
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')), _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
  host_masks m;
  m.digit = static_cast<unsigned>(_mm_movemask_epi8(digit));
  m.name = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(alpha, dot_dash))) | m.digit;
  m.colon = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(':'))));
  return m;
}
#endif

}  // namespace weft::http::detail
