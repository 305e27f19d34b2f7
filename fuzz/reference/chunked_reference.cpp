#include "reference/chunked_reference.hpp"

#include "reference/rfc_syntax.hpp"

#include <cstdint>
#include <utility>

namespace weft::fuzz {
namespace {

// weft's choice (its max_trailer_fields default): a 101st trailer field is
// 431, as soon as its line's CRLF is read and before the line is judged.
constexpr std::size_t max_trailer_fields = 100;

using rfc::is_hex;
using rfc::is_tchar;
using rfc::is_visible;
using rfc::is_ws;

unsigned hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  return static_cast<unsigned>(c - 'A' + 10);
}

// How a rule ended: it matched, it ran out of input while every byte so far
// could still begin a valid body, or it met a byte none could hold.
enum class step { ok, more, bad };

// The input and how far the rules have read it.
struct cursor {
  std::string_view in;
  std::size_t pos = 0;
  int status = 0;  // bad: what to answer

  bool at_end() const { return pos == in.size(); }
  char peek() const { return in[pos]; }
  step bad(int s) {
    status = s;
    return step::bad;
  }
};

// BWS (RFC 9110 §5.6.3). Returns whether there was any.
bool skip_ws(cursor& c) {
  std::size_t from = c.pos;
  while (!c.at_end() && is_ws(c.peek())) ++c.pos;
  return c.pos != from;
}

// token = 1*tchar. One that reaches the end of the input may go on.
step token(cursor& c) {
  std::size_t from = c.pos;
  while (!c.at_end() && is_tchar(c.peek())) ++c.pos;
  if (c.at_end()) return step::more;
  return c.pos == from ? c.bad(400) : step::ok;
}

// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, at the DQUOTE.
// qdtext is HTAB, SP, VCHAR or obs-text but '"' and '\'; a quoted-pair
// escapes HTAB, SP, VCHAR or obs-text (RFC 9110 §5.6.4).
step quoted_string(cursor& c) {
  ++c.pos;
  for (;;) {
    if (c.at_end()) return step::more;
    char ch = c.in[c.pos++];
    if (ch == '"') return step::ok;
    if (ch == '\\') {
      if (c.at_end()) return step::more;
      ch = c.in[c.pos++];
    }
    if (!is_ws(ch) && !is_visible(ch)) return c.bad(400);
  }
}

// CRLF. weft's choice (RFC 9112 §2.2 allows either): a bare LF ends no
// line of the framing, and a CR must be followed by LF; both are 400.
step crlf(cursor& c) {
  for (char want : {'\r', '\n'}) {
    if (c.at_end()) return step::more;
    if (c.in[c.pos++] != want) return c.bad(400);
  }
  return step::ok;
}

// chunk-size = 1*HEXDIG (RFC 9112 §7.1), which sets no bound. weft's
// choices: leading zeros are digits like any other ("0000000000000000005"
// is 5, "000" a last chunk; zeros past the 16th digit count against an
// extension budget of 4096 bytes that the target's inputs cannot exhaust),
// and "0x", a sign or whitespace before the digits is no size (400). A
// size past 2^64 - 1 is 400 at the digit that overflows, before the line ends.
step chunk_size(cursor& c, std::uint64_t& size) {
  std::size_t from = c.pos;
  size = 0;
  while (!c.at_end() && is_hex(c.peek())) {
    unsigned digit = hex_value(c.peek());
    if (size > (UINT64_MAX - digit) / 16) return c.bad(400);
    size = size * 16 + digit;
    ++c.pos;
  }
  if (c.at_end()) return step::more;
  return c.pos == from ? c.bad(400) : step::ok;
}

// weft's choice of when a chunk that would take the body past max_body is
// refused (413): at the byte after its size, before that byte is judged,
// unless it is an LF (a bare LF is 400 first). Its data is never read.
step size_within_limit(cursor& c, std::uint64_t size, std::uint64_t room) {
  return c.peek() == '\n' || size <= room ? step::ok : c.bad(413);
}

// One chunk-ext after its ";": BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ],
// where chunk-ext-val = token / quoted-string. Whitespace after the name
// belongs to the "=" only if one follows; else the caller reads it.
step extension(cursor& c) {
  skip_ws(c);
  if (step s = token(c); s != step::ok) return s;
  std::size_t after_name = c.pos;
  skip_ws(c);
  if (c.at_end()) return step::more;
  if (c.peek() != '=') {
    c.pos = after_name;
    return step::ok;
  }
  ++c.pos;
  skip_ws(c);
  if (c.at_end()) return step::more;
  return c.peek() == '"' ? quoted_string(c) : token(c);
}

// The rest of a chunk line: *( BWS ";" ext ) CRLF. BWS always precedes a
// ";" or "=" in the grammar, never the CRLF, so "5 \r\n" and "5;a=b \r\n"
// are 400 (weft reads it so too).
step extensions_and_crlf(cursor& c) {
  for (;;) {
    bool ws = skip_ws(c);
    if (c.at_end()) return step::more;
    if (c.peek() == ';') {
      ++c.pos;
      if (step s = extension(c); s != step::ok) return s;
      continue;
    }
    if (ws || c.peek() != '\r') return c.bad(400);
    return crlf(c);
  }
}

// chunk-data = 1*OCTET, then CRLF. Data that arrived is body even when the
// chunk has not all arrived.
step chunk_data(cursor& c, std::uint64_t size, std::string& body) {
  std::size_t left = c.in.size() - c.pos;
  std::size_t n = size < left ? static_cast<std::size_t>(size) : left;
  body.append(c.in.substr(c.pos, n));
  c.pos += n;
  if (n < size) return step::more;
  return crlf(c);
}

// The next line of the trailer section, without its CRLF. weft's choice:
// a line is judged only once its CRLF is there, but a bare LF or a CR
// followed by anything but LF is 400 as soon as it is read.
step trailer_line(cursor& c, std::string_view& line) {
  std::size_t end = c.in.find_first_of("\r\n", c.pos);
  if (end == std::string_view::npos) return step::more;
  if (c.in[end] == '\n') return c.bad(400);
  if (end + 1 == c.in.size()) return step::more;
  if (c.in[end + 1] != '\n') return c.bad(400);
  line = c.in.substr(c.pos, end - c.pos);
  c.pos = end + 2;
  return step::ok;
}

// A trailer field line (rfc::field_line), kept as name and trimmed value.
bool field_line(std::string_view line, std::pair<std::string, std::string>& out) {
  std::string_view name, value;
  if (!rfc::field_line(line, name, value)) return false;
  out = {std::string(name), std::string(value)};
  return true;
}

reference_chunked stopped(reference_chunked r, const cursor& c, step s) {
  if (s == step::bad) {
    r.state = reference_chunked::error;
    r.status = c.status;
  }
  return r;
}

// trailer-section = *( field-line CRLF ), then the chunked-body's final CRLF.
reference_chunked trailer_section(reference_chunked r, cursor& c) {
  for (;;) {
    std::string_view line;
    if (step s = trailer_line(c, line); s != step::ok) return stopped(r, c, s);
    if (line.empty()) {
      r.state = reference_chunked::complete;
      r.consumed = c.pos;
      return r;
    }
    if (r.trailers.size() == max_trailer_fields) return stopped(r, c, c.bad(431));
    if (!field_line(line, r.trailers.emplace_back())) return stopped(r, c, c.bad(400));
  }
}

}  // namespace

// chunked-body = *chunk last-chunk trailer-section CRLF, where a chunk is
// chunk-size [ chunk-ext ] CRLF chunk-data CRLF and last-chunk is a size of
// zero (1*"0") with its extensions and CRLF.
reference_chunked reference_decode_chunked(std::string_view in, std::uint64_t max_body) {
  reference_chunked r;
  cursor c{in};
  for (;;) {
    std::uint64_t size = 0;
    step s = chunk_size(c, size);
    if (s == step::ok) s = size_within_limit(c, size, max_body - r.body.size());
    if (s == step::ok) s = extensions_and_crlf(c);
    if (s == step::ok && size > 0) s = chunk_data(c, size, r.body);
    if (s != step::ok) return stopped(std::move(r), c, s);
    if (size == 0) return trailer_section(std::move(r), c);
  }
}

}  // namespace weft::fuzz
