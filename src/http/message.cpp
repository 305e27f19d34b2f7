#include <weft/http/message.hpp>
#include <weft/net/tcp_stream.hpp>

#include "http/char_tables.hpp"
#include "http/field_syntax.hpp"
#include "http/put_bytes.hpp"
#include "http/route_match.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace weft::http {

namespace {
// The target from its path on: an absolute-form target
// ("http://host/p?q", RFC 9112 §3.2.2) loses its scheme and authority.
// Origin-, asterisk- and authority-form targets are returned whole.
std::string_view from_path(std::string_view t) noexcept {
  if (t.empty() || t.front() == '/') return t;
  auto scheme_end = t.find("://");
  if (scheme_end == std::string_view::npos) return t;
  std::string_view rest = t.substr(scheme_end + 3);
  auto p = rest.find_first_of("/?");
  return p == std::string_view::npos ? std::string_view{} : rest.substr(p);
}
}  // namespace

std::string_view request::path() const noexcept {
  std::string_view t = from_path(head_.target);
  t = t.substr(0, detail::find_byte(t, '?'));
  return t.empty() ? std::string_view("/") : t;
}

std::string_view request::query() const noexcept {
  std::string_view t = from_path(head_.target);
  auto q = detail::find_byte(t, '?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::optional<std::string_view> request::header(std::string_view name) const noexcept {
  if (const header_field* f = head_.find(name)) return f->value;
  return std::nullopt;
}

std::optional<std::string> request::query_param(std::string_view name) const {
  return detail::query_value(query(), name);
}

std::optional<endpoint> request::peer() const {
  if (stream_ == nullptr) return std::nullopt;
  try {
    return stream_->peer();
  } catch (const std::system_error&) {
    return std::nullopt;  // gone (ENOTCONN), or closed
  }
}

std::string_view request::param(std::string_view name) const noexcept {
  for (const auto& [k, v] : params_)
    if (k == name) return v;
  return {};
}

response response::text(std::string body, int status) {
  response r(status);
  r.content_type("text/plain; charset=utf-8");
  r.body(std::move(body));
  return r;
}

response response::json(std::string body, int status) {
  response r(status);
  r.content_type("application/json");
  r.body(std::move(body));
  return r;
}

void header_lines::append(std::string_view name, std::string_view value) {
  put(name, value);
}

void header_lines::append_lines(std::string_view lines) {
  if (spill_.empty() && size_ + lines.size() <= sizeof small_) {
    detail::put_bytes(small_ + size_, lines);
    size_ += static_cast<std::uint32_t>(lines.size());
    return;
  }
  if (spill_.empty()) spill_.assign(small_, size_);
  spill_.append(lines);
}

// Inlined into response's setters, where the name's length is often known
// when compiled (callgrind: ~20 instructions a response).
[[gnu::always_inline]] inline void header_lines::put(std::string_view name,
                                                     std::string_view value) {
  std::size_t add = name.size() + value.size() + 4;
  if (spill_.empty() && size_ + add <= sizeof small_) {
    char* p = detail::put_bytes(small_ + size_, name);
    *p++ = ':';
    *p++ = ' ';
    p = detail::put_bytes(p, value);
    *p++ = '\r';
    *p++ = '\n';
    size_ += static_cast<std::uint32_t>(add);
    return;
  }
  if (spill_.empty()) spill_.assign(small_, size_);
  spill_.append(name).append(": ").append(value).append("\r\n");
}

void header_lines::remove(std::string_view name) noexcept {
  char* base = spill_.empty() ? small_ : spill_.data();
  std::size_t size = spill_.empty() ? size_ : spill_.size(), kept = 0;
  for (std::size_t at = 0; at < size;) {
    std::string_view rest(base + at, size - at);
    std::size_t len = rest.find("\r\n") + 2;
    std::string_view line = rest.substr(0, len);
    if (!iequals(line.substr(0, line.find(':')), name)) {
      std::memmove(base + kept, base + at, len);
      kept += len;
    }
    at += len;
  }
  if (spill_.empty()) {
    size_ = static_cast<std::uint32_t>(kept);
  } else {
    spill_.resize(kept);
    // Empty, the lines are small_'s again, stale since they moved out:
    // shown again, the removed lines came back (found by an audit).
    if (kept == 0) size_ = 0;
  }
}

std::optional<std::string_view> header_lines::find(std::string_view name) const noexcept {
  std::string_view rest = view();
  while (!rest.empty()) {
    std::size_t end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end + 2);
    std::size_t colon = line.find(':');
    if (iequals(line.substr(0, colon), name)) return line.substr(colon + 2);
  }
  return std::nullopt;
}

namespace {
// The fields that frame the message, which only the server writes.
bool framing_field(std::string_view name) noexcept {
  switch (name.size()) {
    case 10:
      return iequals(name, "Connection");
    case 14:
      return iequals(name, "Content-Length");
    case 17:
      return iequals(name, "Transfer-Encoding");
    default:
      return false;
  }
}

// Inlined into both callers: set per response, a value's check cost less
// than the call to it (callgrind, bench/http/instructions.sh).
[[gnu::always_inline]] inline void check_value(std::string_view value) {
  if (!detail::printable_ascii(value) && detail::span_of(value, detail::field_byte) != value.size())
    throw std::invalid_argument("response::header: a control byte (CR, LF, NUL...) in the value");
}

// A value without its surrounding SP and HTAB, which a field value never
// has (RFC 9110 §5.5): sent, " x" and "x " read differently to clients that
// trim and to those that do not. Where there is none to trim, one test of
// each end, for a byte up to SP (a control byte there is refused after):
// 7 instructions a response (1,194 against 1,187 per pipelined hello,
// bench/http/instructions.sh), where a call, or tests for SP and HTAB
// apart, cost 18 and 13.
[[gnu::always_inline]] inline std::string_view trimmed(std::string_view v) noexcept {
  if (!v.empty() &&
      (static_cast<unsigned char>(v.front()) <= ' ' || static_cast<unsigned char>(v.back()) <= ' '))
    return detail::trim_ows(v);
  return v;
}
}  // namespace

const unique_fd& response::no_file() noexcept {
  static const unique_fd none;
  return none;
}

response& response::content_type(std::string_view type) & {
  type = trimmed(type);
  check_value(type);
  if (typed_) headers_.remove("Content-Type");
  headers_.put("Content-Type", type);
  typed_ = true;
  return *this;
}

response& response::header(std::string_view name, std::string_view value) & {
  using namespace detail;
  if (name.empty() || span_of(name, tchar) != name.size())
    throw std::invalid_argument("response::header: the name is not a token");
  value = trimmed(value);
  check_value(value);
  if (framing_field(name))
    throw std::invalid_argument("response::header: the server sets " + std::string(name));
  if (name.size() == 4 && iequals(name, "Date")) {
    // One value (RFC 9110 §6.6.1): a second replaces the first.
    if (sets_date_) headers_.remove("Date");
    sets_date_ = true;
  }
  if (name.size() == 12 && iequals(name, "Content-Type")) return content_type(value);
  headers_.put(name, value);
  return *this;
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 506:
      return "Variant Also Negotiates";
    case 507:
      return "Insufficient Storage";
    case 508:
      return "Loop Detected";
    case 511:
      return "Network Authentication Required";
    default:
      return "Unknown";
  }
}

}  // namespace weft::http
