// `weft inspect`: the e3 "echo the URL" server grown into a request
// inspector. Every well-formed request gets 200 and a JSON description:
// {"method": ..., "target": ..., "version": ..., "headers": [[name, value]...],
//  "body": ..., "trailers": [...]}. Bytes map to code points of the same
// value (Latin-1), so any body round-trips. A large body's JSON is streamed
// with its Content-Length, never held whole.

#include <weft/http/server.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "commands.hpp"
#include "http_service.hpp"

namespace weft::app {
namespace {

// JSON's two-character escapes, or nullptr.
constexpr const char* short_escape(unsigned char c) noexcept {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      return nullptr;
  }
}

// Of the bytes short_escape leaves, those that JSON (ASCII only) writes as
// \u00XX: the other controls, DEL and every byte above it.
constexpr bool hex_escaped(unsigned char c) noexcept {
  return c < 0x20 || c >= 0x7f;
}

// Written as Python's json.dumps writes it by default (ASCII only), so a
// client may compare bytes as well as parsed values: the short escapes where
// JSON has them, and \u00XX for the other controls, DEL and every byte
// above it (U+0080..U+00FF).
void append_escaped(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    const char* brief = short_escape(c);
    if (brief != nullptr) {
      out += brief;
    } else if (hex_escaped(c)) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
}

// How many bytes append_escaped makes of each byte value. A table: the
// two tests per byte mispredicted on arbitrary bytes, and sizing an 8 MiB
// body's JSON held its loop for 40-80 ms, every other connection on it
// waiting (found by a chaos run; 2-6 ms with the table, a test program of
// the two loops over 8 MB of random bytes).
constexpr std::array<std::uint8_t, 256> escaped_sizes = [] {
  std::array<std::uint8_t, 256> sizes{};
  for (unsigned c = 0; c < sizes.size(); ++c) {
    auto byte = static_cast<unsigned char>(c);
    sizes[c] = short_escape(byte) != nullptr ? 2 : hex_escaped(byte) ? 6 : 1;
  }
  return sizes;
}();

// How many bytes append_escaped makes of s.
std::size_t escaped_size(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char ch : s) n += escaped_sizes[static_cast<unsigned char>(ch)];
  return n;
}

void json_string(std::string& out, std::string_view s) {
  out += '"';
  append_escaped(out, s);
  out += '"';
}

void json_fields(std::string& out, std::span<const http::header_field> fields) {
  out += '[';
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ", ";
    out += '[';
    json_string(out, fields[i].name);
    out += ", ";
    json_string(out, fields[i].value);
    out += ']';
  }
  out += ']';
}

// A body whose JSON is larger is streamed from the request's own bytes,
// `piece` of them escaped per write: built whole, a body of bytes that
// take six each (\u00XX) cost seven times --max-body per connection, 56
// MiB at the default, twice that while the string grew.
constexpr std::size_t built_whole_max = std::size_t{64} << 10;
constexpr std::size_t piece = std::size_t{64} << 10;

// Sends `out` (the JSON up to the body's opening quote), the body escaped,
// and `tail` (from its closing quote), `piece` body bytes a write.
task<void> send_description(http::body_writer& w, std::string out, std::string_view body,
                            std::string tail) {
  for (std::size_t at = 0; at < body.size(); at += piece) {
    append_escaped(out, body.substr(at, piece));
    if (body.size() - at <= piece) out += tail;
    co_await w.write(out);
    out.clear();
  }
}

}  // namespace

http::response describe_request(const http::request& req) {
  std::string out = "{\"method\": ";
  json_string(out, req.method());
  out += ", \"target\": ";
  json_string(out, req.target());
  out += ", \"version\": ";
  json_string(out, req.version());
  out += ", \"headers\": ";
  json_fields(out, req.headers());
  out += ", \"body\": \"";
  std::string tail = "\", \"trailers\": ";
  json_fields(tail, req.trailers());
  tail += '}';
  std::string_view body = req.body();
  std::size_t body_size = escaped_size(body);
  if (body_size <= built_whole_max) {
    out.reserve(out.size() + body_size + tail.size());
    append_escaped(out, body);
    out += tail;
    return http::response::json(std::move(out));
  }
  // The request's body lives until the answer has been sent (message.hpp).
  std::uint64_t length = out.size() + body_size + tail.size();
  http::response r;
  r.content_type("application/json");
  r.stream([out = std::move(out), body, tail = std::move(tail)](
               http::body_writer& w) { return send_description(w, out, body, tail); },
           length);
  return r;
}

void add_inspect_command(CLI::App& app, std::function<int()>& run) {
  add_http_command(app, run, "inspect", "HTTP request inspector (JSON), default port 8080", [] {
    auto routes = std::make_shared<http::router>();
    routes->fallback(http::plain_handler([](http::request& req) { return describe_request(req); }));
    return routes;
  });
}

}  // namespace weft::app
