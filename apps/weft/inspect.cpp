// `weft inspect`: the e3 "echo the URL" server grown into a request
// inspector. Every well-formed request gets 200 and a JSON description:
// {"method": ..., "target": ..., "version": ..., "headers": [[name, value]...],
//  "body": ..., "trailers": [...]}. Bytes map to code points of the same
// value (Latin-1), so any body round-trips.

#include "commands.hpp"
#include "http_service.hpp"

namespace weft::app {
namespace {

// JSON's two-character escapes, or nullptr.
const char* short_escape(unsigned char c) noexcept {
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

// Written as Python's json.dumps writes it by default (ASCII only), so a
// client may compare bytes as well as parsed values: the short escapes where
// JSON has them, and \u00XX for the other controls, DEL and every byte
// above it (U+0080..U+00FF).
void json_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    const char* brief = short_escape(c);
    if (brief != nullptr) {
      out += brief;
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
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

}  // namespace

std::string describe_request(const http::request& req) {
  std::string out = "{\"method\": ";
  json_string(out, req.method());
  out += ", \"target\": ";
  json_string(out, req.target());
  out += ", \"version\": ";
  json_string(out, req.version());
  out += ", \"headers\": ";
  json_fields(out, req.headers());
  out += ", \"body\": ";
  json_string(out, req.body());
  out += ", \"trailers\": ";
  json_fields(out, req.trailers());
  out += '}';
  return out;
}

void add_inspect_command(CLI::App& app, std::function<int()>& run) {
  add_http_command(app, run, "inspect", "HTTP request inspector (JSON), default port 8080", [] {
    auto routes = std::make_shared<http::router>();
    routes->fallback(http::plain_handler(
        [](http::request& req) { return http::response::json(describe_request(req)); }));
    return routes;
  });
}

}  // namespace weft::app
