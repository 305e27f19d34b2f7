#include "http/request_rules.hpp"

#include "http/char_tables.hpp"
#include "http/field_syntax.hpp"

#include <algorithm>

namespace weft::http::detail {
namespace {

constexpr verdict ok{};

std::size_t skip_ows(std::string_view s, std::size_t i) noexcept {
  while (i < s.size() && is_ows(s[i])) ++i;
  return i;
}

// Whether s[i] starts a pct-encoded octet ("%" HEXDIG HEXDIG).
bool pct_encoded_at(std::string_view s, std::size_t i) noexcept {
  return s.size() - i >= 3 && s[i] == '%' && is(s[i + 1], hexdig) && is(s[i + 2], hexdig);
}

// Every '%' must start a pct-encoded octet. A short string (a target such
// as "/") is walked byte by byte: a memchr call cost ~50 instructions a
// request before it looked at a byte (callgrind, pipelined bench).
bool valid_percent_encoding(std::string_view s) noexcept {
  for (std::size_t i = find_byte(s, '%'); i != std::string_view::npos;) {
    if (!pct_encoded_at(s, i)) return false;
    std::size_t next = find_byte(s.substr(i + 3), '%');
    i = next == std::string_view::npos ? next : i + 3 + next;
  }
  return true;
}

// HTTP-version = "HTTP/" DIGIT "." DIGIT. A well-formed version other than
// 1.0 and 1.1, or a bare major digit ("HTTP/2", "HTTP/3"), is a version we
// do not serve: 505. Anything else is not a version at all: 400.
verdict check_version(std::string_view v, std::uint8_t& minor) noexcept {
  if (v.size() < 6 || v.substr(0, 5) != "HTTP/") return {400, "invalid HTTP version"};
  v.remove_prefix(5);
  if (v.size() == 3 && is_digit(v[0]) && v[1] == '.' && is_digit(v[2])) {
    if (v[0] == '1' && (v[2] == '0' || v[2] == '1')) {
      minor = static_cast<std::uint8_t>(v[2] - '0');
      return ok;
    }
    return {505, "HTTP version not supported"};
  }
  if (v.size() == 1 && is_digit(v[0]) && v[0] != '1') return {505, "HTTP version not supported"};
  return {400, "invalid HTTP version"};
}

// The length of the quoted-string at the start of s, or 0 if it is malformed.
std::size_t quoted_string_size(std::string_view s) noexcept {
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '"') return i + 1;
    if (s[i] == '\\') {
      if (++i == s.size() || !is(s[i], field_byte)) return 0;
    } else if (!is(s[i], qdtext)) {
      return 0;
    }
  }
  return 0;
}

// Transfer-Encoding = #transfer-coding; transfer-coding = token
// *( OWS ";" OWS token "=" ( token / quoted-string ) ). RFC 9110 §5.6.1
// asks recipients to skip empty list elements; we refuse them instead, since
// a peer that reads ", chunked" differently is how requests get smuggled.
verdict apply_transfer_encoding(std::string_view v, parse_state& st) noexcept {
  constexpr verdict malformed{400, "malformed Transfer-Encoding"};
  st.has_te = true;
  std::size_t i = 0;
  for (;;) {
    std::size_t n = span_of(v.substr(i), tchar);
    if (n == 0) return malformed;
    std::string_view coding = v.substr(i, n);
    i = skip_ows(v, i + n);
    bool params = false;
    while (i < v.size() && v[i] == ';') {
      params = true;
      i = skip_ows(v, i + 1);
      std::size_t name = span_of(v.substr(i), tchar);
      if (name == 0) return malformed;
      i = skip_ows(v, i + name);
      if (i == v.size() || v[i] != '=') return malformed;
      i = skip_ows(v, i + 1);
      std::size_t value = i < v.size() && v[i] == '"' ? quoted_string_size(v.substr(i))
                                                      : span_of(v.substr(i), tchar);
      if (value == 0) return malformed;
      i = skip_ows(v, i + value);
    }
    st.te_chunked_last = iequals(coding, "chunked");
    if (st.te_chunked_last) {
      if (params) return {400, "parameters on the chunked transfer coding"};
      if (st.te_chunked < 2) ++st.te_chunked;
    } else {
      st.te_unknown = true;
    }
    if (i == v.size()) return ok;
    if (v[i] != ',') return malformed;
    i = skip_ows(v, i + 1);
  }
}

// Calls `f` on each member of a comma-separated list (RFC 9110 §5.6.1),
// with its whitespace trimmed; empty members are passed too.
template <class F>
void for_each_member(std::string_view v, F f) noexcept {
  while (!v.empty()) {
    std::size_t comma = v.find(',');
    f(trim_ows(v.substr(0, comma)));
    v.remove_prefix(comma == std::string_view::npos ? v.size() : comma + 1);
  }
}

// Connection = #connection-option. Only "close" and "keep-alive" matter
// here; other options (and odd syntax) change nothing about framing, so they
// are ignored rather than refused.
void apply_connection(std::string_view v, parse_state& st) noexcept {
  for_each_member(v, [&st](std::string_view opt) {
    if (iequals(opt, "close")) st.conn_close = true;
    if (iequals(opt, "keep-alive")) st.conn_keep_alive = true;
  });
}

// Expect = #expectation (RFC 9110 §10.1.1). 100-continue may come among
// other members; the others may be ignored (or get 417), and are.
void apply_expect(std::string_view v, parse_state& st) noexcept {
  for_each_member(v, [&st](std::string_view e) {
    if (iequals(e, "100-continue")) st.expect_continue = true;
  });
}

// dec-octet "." dec-octet "." dec-octet "." dec-octet (RFC 3986 §3.2.2):
// 0-255 without leading zeros.
bool valid_ipv4(std::string_view s) noexcept {
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (s.empty() || s[0] != '.') return false;
      s.remove_prefix(1);
    }
    std::size_t n = 0;
    unsigned value = 0;
    while (n < s.size() && n < 4 && is_digit(s[n])) value = value * 10 + (s[n++] - '0');
    if (n == 0 || n > 3 || value > 255 || (n > 1 && s[0] == '0')) return false;
    s.remove_prefix(n);
  }
  return s.empty();
}

// IPv6address (RFC 3986 §3.2.2): eight groups of 1-4 hex digits, the last
// two of which may be written as an IPv4 address, and at most one "::" that
// stands for one or more zero groups.
bool valid_ipv6(std::string_view s) noexcept {
  int groups = 0;
  bool gap = false;
  std::size_t i = 0;
  if (s.substr(0, 2) == "::") {
    gap = true;
    i = 2;
  } else if (s.substr(0, 1) == ":") {
    return false;
  }
  while (i < s.size()) {
    std::size_t n = span_of(s.substr(i), hexdig);
    if (i + n < s.size() && s[i + n] == '.') {  // the IPv4 tail ends the address
      if (!valid_ipv4(s.substr(i))) return false;
      groups += 2;
      break;
    }
    if (n == 0 || n > 4) return false;
    ++groups;
    i += n;
    if (i == s.size()) break;
    if (s[i] != ':' || ++i == s.size()) return false;  // a lone trailing ':' too
    if (s[i] == ':') {
      if (gap) return false;
      gap = true;
      ++i;
    }
  }
  return gap ? groups <= 7 : groups == 8;
}

}  // namespace

verdict check_target_form(std::string_view in, std::string_view method, std::string_view target,
                          parse_state& st) noexcept {
  if (!valid_percent_encoding(target)) return {400, "invalid percent-encoding in request target"};
  if (method == "CONNECT") {
    if (!valid_host(target, true)) return {400, "CONNECT needs an authority-form target"};
    st.host_from_target = true;
    set_host(in, target, st);
    return ok;
  }
  if (target[0] == '/') return ok;
  if (target == "*") {
    return method == "OPTIONS" ? ok : verdict{400, "asterisk-form target is only for OPTIONS"};
  }
  std::size_t sep = target.find("://");
  std::string_view scheme = target.substr(0, sep);
  if (sep == std::string_view::npos || !(iequals(scheme, "http") || iequals(scheme, "https")))
    return {400, "invalid request target"};
  std::string_view rest = target.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.empty() || !valid_host(authority, false))
    return {400, "invalid authority in request target"};
  st.host_from_target = true;
  set_host(in, authority, st);
  return ok;
}

bool valid_host(std::string_view h, bool require_port) noexcept {
  if (h.empty()) return !require_port;  // RFC 9112 §3.2 allows an empty Host
  std::size_t i = 0;
  if (h[0] == '[') {  // IP-literal; IPvFuture ("[v1.x]") is not served
    i = h.find(']');
    if (i == std::string_view::npos || !valid_ipv6(h.substr(1, i - 1))) return false;
    ++i;
  } else {
    // reg-name, which covers IPv4address: runs of plain bytes, and between
    // them the (rare) pct-encoded octets.
    i = span_of(h, reg_name);
    while (i < h.size() && h[i] == '%') {
      if (!pct_encoded_at(h, i)) return false;
      i += 3;
      i += span_of(h.substr(i), reg_name);
    }
    if (i == 0) return false;
  }
  if (i == h.size()) return !require_port;
  if (h[i] != ':') return false;
  std::string_view port = h.substr(i + 1);
  if (port.empty()) return !require_port;
  std::uint64_t n = 0;
  return port.size() <= 5 && parse_decimal(port, n) && n <= 65535;
}

verdict check_method_so_far(std::string_view in, std::size_t start, std::size_t limit) noexcept {
  std::size_t end = std::min({in.size(), limit, start + 32});
  if (start >= end) return {};
  std::string_view seen = in.substr(start, end - start);
  std::size_t m = span_of(seen, tchar);
  if (m == seen.size() || seen[m] == ' ' || seen[m] == '\r' || seen[m] == '\n') return {};
  return {400, "invalid method"};
}

verdict parse_request_line(std::string_view in, std::size_t start, std::size_t cr,
                           parse_state& st) noexcept {
  std::string_view line = in.substr(start, cr - start);
  std::size_t m = span_of(line, tchar);
  if (m == 0 || m == line.size() || line[m] != ' ') return {400, "invalid method"};
  std::size_t t = target_span(line.substr(m + 1));
  if (t == 0 || m + 1 + t == line.size() || line[m + 1 + t] != ' ')
    return {400, "invalid request target"};
  if (verdict v = check_version(line.substr(m + t + 2), st.version_minor); v.status != 0) return v;
  return record_request_line(in, start, m, t, st);
}

verdict apply_field(std::string_view in, const header_field& f, parse_state& st) noexcept {
  std::string_view name = f.name, v = f.value;
  // One comparison per field at most: the names that matter differ in length.
  switch (name.size()) {
    case 4:
      if (!iequals(name, "host")) break;
      if (++st.host_fields > 1) return {400, "more than one Host field"};
      if (!valid_host(v, false)) return {400, "invalid Host"};
      if (!st.host_from_target) set_host(in, v, st);
      break;
    case 14: {
      if (!iequals(name, "content-length")) break;
      // Digits only: "+5", "0x5", "5 5" and lists such as "5, 5" are
      // refused. Repeated fields must be byte-identical (RFC 9110 §8.6
      // allows refusing any difference).
      std::uint64_t n = 0;
      if (!parse_decimal(v, n)) return {400, "invalid Content-Length"};
      if (st.has_cl && in.substr(st.cl_off, st.cl_len) != v)
        return {400, "differing Content-Length values"};
      st.has_cl = true;
      st.content_length = n;
      st.cl_off = static_cast<std::size_t>(v.data() - in.data());
      st.cl_len = v.size();
      break;
    }
    case 17:
      if (iequals(name, "transfer-encoding")) return apply_transfer_encoding(v, st);
      break;
    case 10:
      if (iequals(name, "connection")) apply_connection(v, st);
      break;
    case 6:
      if (iequals(name, "expect")) apply_expect(v, st);
      break;
  }
  return ok;
}

verdict decide_framing(const parse_limits& limits, const parse_state& st) noexcept {
  if (st.version_minor == 1 && st.host_fields == 0) return {400, "missing Host"};
  if (st.has_te) {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means its
    // framing is faulty. §6.3: with Content-Length too, or with chunked not
    // final, the body length cannot be determined: 400. A final chunked
    // after a coding we do not implement (gzip, chunked) is 501, §6.1.
    if (st.version_minor == 0) return {400, "Transfer-Encoding in an HTTP/1.0 request"};
    if (st.has_cl) return {400, "both Content-Length and Transfer-Encoding"};
    if (!st.te_chunked_last) return {400, "chunked is not the final transfer coding"};
    if (st.te_chunked > 1) return {400, "chunked applied more than once"};
    if (st.te_unknown) return {501, "unsupported transfer coding"};
  } else if (st.has_cl && st.content_length > limits.max_body) {
    return {413, "Content-Length exceeds the body limit"};
  }
  return ok;
}

}  // namespace weft::http::detail
