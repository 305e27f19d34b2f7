#include "reference/request_reference.hpp"

#include "reference/rfc_syntax.hpp"

#include <arpa/inet.h>

namespace weft::fuzz {
namespace {

constexpr std::size_t max_fields = 100;
constexpr std::uint64_t max_body = 8u << 20;

using rfc::is_digit;
using rfc::is_hex;
using rfc::is_tchar;
using rfc::is_token;
using rfc::is_visible;
using rfc::is_ws;
using rfc::trim;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Every '%' starts "%" HEXDIG HEXDIG (RFC 3986 §2.1).
bool percent_ok(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
  }
  return true;
}

bool port_ok(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  unsigned n = 0;
  for (char c : p) {
    if (!is_digit(c)) return false;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n <= 65535;
}

// uri-host [":" port] (RFC 3986 §3.2.2-3). An IP-literal must hold an
// IPv6 address; the C library's inet_pton is the independent judge of that.
// IPvFuture is refused, as weft refuses it.
bool authority_ok(std::string_view a, bool need_port) {
  if (a.empty()) return !need_port;
  std::string_view rest;
  if (a.front() == '[') {
    std::size_t close = a.find(']');
    if (close == std::string_view::npos) return false;
    std::string literal(a.substr(1, close - 1));
    in6_addr addr;
    if (literal.find('\0') != std::string::npos || inet_pton(AF_INET6, literal.c_str(), &addr) != 1)
      return false;
    rest = a.substr(close + 1);
  } else {
    std::size_t colon = a.find(':');
    std::string_view name = a.substr(0, colon);
    const std::string_view reg_name_extra = "-._~!$&'()*+,;=%";
    if (name.empty() || !percent_ok(name)) return false;
    for (char c : name)
      if (!is_tchar(c) && reg_name_extra.find(c) == std::string_view::npos) return false;
    for (char c : name)  // tchar has a few bytes reg-name lacks
      if (c == '#' || c == '^' || c == '`' || c == '|') return false;
    rest = colon == std::string_view::npos ? std::string_view{} : a.substr(colon);
  }
  if (rest.empty()) return !need_port;
  if (rest.front() != ':') return false;
  if (rest.size() == 1) return !need_port;  // "host:" has an empty port
  return port_ok(rest.substr(1));
}

struct line {
  enum { ok, more, bad } kind;
  std::string_view text;
  std::size_t next = 0;
};

// RFC 9112 §2.2: a line ends in CRLF. A CR or LF alone is refused anywhere.
line next_line(std::string_view in, std::size_t from) {
  for (std::size_t i = from; i < in.size(); ++i) {
    if (in[i] == '\n') return {line::bad, {}, 0};
    if (in[i] != '\r') continue;
    if (i + 1 == in.size()) return {line::more, {}, 0};
    if (in[i + 1] != '\n') return {line::bad, {}, 0};
    return {line::ok, in.substr(from, i - from), i + 2};
  }
  return {line::more, {}, 0};
}

// What the fields said about framing, while they are read.
struct framing_state {
  bool host = false, te = false, cl = false;
  bool close = false, keep_alive = false;
  std::string cl_text;
  int chunked = 0;
  bool chunked_last = false, other_coding = false;
};

// quoted-string (RFC 9110 §5.6.4) at v[i]; moves i past it.
bool skip_quoted(std::string_view v, std::size_t& i) {
  for (++i; i < v.size(); ++i) {
    char c = v[i];
    if (c == '"') return ++i, true;
    if (c == '\\') {
      if (++i == v.size() || !(is_ws(v[i]) || is_visible(v[i]))) return false;
    } else if (!is_ws(c) && !is_visible(c)) {
      return false;
    }
  }
  return false;
}

// Transfer-Encoding = 1#transfer-coding (RFC 9112 §6.1), with empty list
// elements refused, as weft documents.
bool read_codings(std::string_view v, framing_state& f) {
  std::size_t i = 0;
  auto ows = [&] {
    while (i < v.size() && is_ws(v[i])) ++i;
  };
  auto token = [&] {
    std::size_t from = i;
    while (i < v.size() && is_tchar(v[i])) ++i;
    return v.substr(from, i - from);
  };
  for (;;) {
    std::string coding = lower(token());
    if (coding.empty()) return false;
    ows();
    bool params = false;
    while (i < v.size() && v[i] == ';') {
      params = true;
      ++i;
      ows();
      if (token().empty()) return false;
      ows();
      if (i == v.size() || v[i] != '=') return false;
      ++i;
      ows();
      if (i < v.size() && v[i] == '"') {
        if (!skip_quoted(v, i)) return false;
      } else if (token().empty()) {
        return false;
      }
      ows();
    }
    f.chunked_last = coding == "chunked";
    if (f.chunked_last && params) return false;
    if (f.chunked_last) ++f.chunked;
    if (!f.chunked_last) f.other_coding = true;
    if (i == v.size()) return true;
    if (v[i] != ',') return false;
    ++i;
    ows();
  }
}

// The status a field line earns (0: fine), given what came before.
int apply(const std::string& name, std::string_view value, bool host_in_target, reference_head& h,
          framing_state& f) {
  if (name == "host") {
    if (f.host || !authority_ok(value, false)) return 400;
    f.host = true;
    if (!host_in_target) h.host = value;
  } else if (name == "content-length") {
    std::uint64_t n = 0;
    if (value.empty()) return 400;
    for (char c : value) {
      std::uint64_t digit = static_cast<unsigned>(c - '0');
      if (!is_digit(c) || n > (UINT64_MAX - digit) / 10) return 400;
      n = n * 10 + digit;
    }
    if (f.cl && f.cl_text != value) return 400;
    f.cl = true;
    f.cl_text = value;
    h.content_length = n;
  } else if (name == "transfer-encoding") {
    f.te = true;
    if (!read_codings(value, f)) return 400;
  } else if (name == "connection") {
    std::size_t start = 0;
    for (;;) {
      std::size_t comma = value.find(',', start);
      std::string option = lower(trim(value.substr(start, comma - start)));
      f.close = f.close || option == "close";
      f.keep_alive = f.keep_alive || option == "keep-alive";
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }
  return 0;
}

// RFC 9112 §3.2: which target forms go with which methods.
int check_target(const reference_head& h, std::string& host, bool& host_in_target) {
  const std::string& t = h.target;
  if (!percent_ok(t)) return 400;
  if (h.method == "CONNECT") {
    if (!authority_ok(t, true)) return 400;
    host = t;
    host_in_target = true;
    return 0;
  }
  if (t.front() == '/') return 0;
  if (t == "*") return h.method == "OPTIONS" ? 0 : 400;
  std::size_t sep = t.find("://");
  if (sep == std::string::npos) return 400;
  std::string scheme = lower(t.substr(0, sep));
  if (scheme != "http" && scheme != "https") return 400;
  std::string rest = t.substr(sep + 3);
  std::string authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.empty() || !authority_ok(authority, false)) return 400;
  host = authority;
  host_in_target = true;
  return 0;
}

// HTTP-version (RFC 9112 §2.3): 1.0 and 1.1 are served; another
// well-formed version, or a bare major digit other than 1, gets 505.
int check_version(std::string_view v, int& minor) {
  if (v.size() == 8 && v.substr(0, 5) == "HTTP/" && is_digit(v[5]) && v[6] == '.' &&
      is_digit(v[7])) {
    if (v[5] == '1' && (v[7] == '0' || v[7] == '1')) {
      minor = v[7] - '0';
      return 0;
    }
    return 505;
  }
  if (v.size() == 6 && v.substr(0, 5) == "HTTP/" && is_digit(v[5]) && v[5] != '1') return 505;
  return 400;
}

int request_line(std::string_view text, reference_head& h, bool& host_in_target) {
  std::size_t sp1 = text.find(' ');
  if (sp1 == std::string_view::npos || !is_token(text.substr(0, sp1))) return 400;
  std::string_view rest = text.substr(sp1 + 1);
  std::size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos || sp2 == 0) return 400;
  for (char c : rest.substr(0, sp2))
    if (!is_visible(c) || static_cast<unsigned char>(c) >= 0x80 || c == '#') return 400;
  h.method = text.substr(0, sp1);
  h.target = rest.substr(0, sp2);
  if (int s = check_version(rest.substr(sp2 + 1), h.version_minor)) return s;
  return check_target(h, h.host, host_in_target);
}

// weft answers a request line before it ends once its method holds a byte
// that no method may hold (neither a tchar nor the SP, CR or LF that may end
// it) within the line's first 32 bytes: a TLS ClientHello gets its 400 at
// once. (The line limits, which bound that window too, are past max_len.)
bool method_already_bad(std::string_view line_start) {
  for (char c : line_start.substr(0, 32)) {
    if (!is_tchar(c)) return c != ' ' && c != '\r' && c != '\n';
  }
  return false;
}

reference_head fail(int status) {
  reference_head h;
  h.state = reference_head::error;
  h.status = status;
  return h;
}

}  // namespace

reference_head reference_parse(std::string_view in) {
  reference_head h;
  line l{line::ok, {}, 0};
  do {  // empty lines before the request line are skipped (RFC 9112 §2.2)
    std::size_t start = l.next;
    l = next_line(in, start);
    if (l.kind == line::more) return method_already_bad(in.substr(start)) ? fail(400) : h;
    if (l.kind == line::bad) return fail(400);
  } while (l.text.empty());
  bool host_in_target = false;
  if (int s = request_line(l.text, h, host_in_target)) return fail(s);
  framing_state f;
  for (;;) {
    l = next_line(in, l.next);
    if (l.kind == line::more) return reference_head{};
    if (l.kind == line::bad) return fail(400);
    if (l.text.empty()) break;
    if (h.fields.size() == max_fields) return fail(431);
    std::string_view name, value;
    if (!rfc::field_line(l.text, name, value)) return fail(400);
    h.fields.emplace_back(name, value);
    if (int s = apply(lower(name), value, host_in_target, h, f)) return fail(s);
  }
  // RFC 9112 §3.2: a 1.1 request needs Host. §6.1 and §6.3: framing that
  // leaves the body's length in doubt is 400; a coding we lack is 501.
  if (h.version_minor == 1 && !f.host) return fail(400);
  if (f.te) {
    if (h.version_minor == 0 || f.cl || !f.chunked_last || f.chunked > 1) return fail(400);
    if (f.other_coding) return fail(501);
    h.body = reference_head::framing::chunked;
  } else if (f.cl) {
    if (h.content_length > max_body) return fail(413);
    h.body = reference_head::framing::content_length;
  }
  if (!f.cl) h.content_length = 0;
  h.keep_alive = !f.close && (h.version_minor == 1 || f.keep_alive);
  h.state = reference_head::complete;
  h.consumed = l.next;
  return h;
}

}  // namespace weft::fuzz
