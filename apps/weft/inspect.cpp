// `weft inspect`: the e3 "echo the URL" server grown into a request
// inspector. Every well-formed request gets 200 and a JSON description:
// {"method": ..., "target": ..., "version": ..., "headers": [[name, value]...],
//  "body": ..., "trailers": [...]}. Bytes map to code points of the same
// value (Latin-1), so any body round-trips. A large body's JSON is streamed
// with its Content-Length, never held whole.

#include <weft/http/server.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"

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

// The answer, in order: JSON text as it is, or bytes to escape.
struct json_part {
  std::string_view bytes;
  bool escape;
};

// The answer's parts for `req`, each string of the request passed through
// `keep` (which may copy it) and the body viewed where it is.
template <class Keep>
std::vector<json_part> parts_of(const http::request& req, Keep keep) {
  std::vector<json_part> parts;
  auto text = [&](std::string_view t) { parts.push_back({t, false}); };
  auto string = [&](std::string_view s) {
    text("\"");
    parts.push_back({keep(s), true});
    text("\"");
  };
  auto fields = [&](std::span<const http::header_field> fs) {
    text("[");
    for (std::size_t i = 0; i < fs.size(); ++i) {
      text(i ? ", [" : "[");
      string(fs[i].name);
      text(", ");
      string(fs[i].value);
      text("]");
    }
    text("]");
  };
  parts.reserve(16 + 10 * (req.headers().size() + req.trailers().size()));
  text("{\"method\": ");
  string(req.method());
  text(", \"target\": ");
  string(req.target());
  text(", \"version\": ");
  string(req.version());
  text(", \"headers\": ");
  fields(req.headers());
  text(", \"body\": \"");
  parts.push_back({req.body(), true});  // lives until the answer has gone
  text("\", \"trailers\": ");
  fields(req.trailers());
  text("}");
  return parts;
}

// Appends `bytes` of part `p`, escaped if it is to be.
void append(std::string& out, const json_part& p, std::string_view bytes) {
  if (p.escape) {
    append_escaped(out, bytes);
  } else {
    out += bytes;
  }
}

std::uint64_t size_of(const std::vector<json_part>& parts) noexcept {
  std::uint64_t n = 0;
  for (const json_part& p : parts) n += p.escape ? escaped_size(p.bytes) : p.bytes.size();
  return n;
}

// An answer whose JSON is larger is streamed, a write at a time of at
// least `flush_at` bytes (sent from here, not copied: see write_all),
// escaped `piece` raw bytes at a time: what a client that reads slowly or
// never holds is about its own bytes. Built whole, the JSON of a head of
// 0xFF bytes (each \u00ff) was 384 KiB, copied into the producer and again
// into its coroutine, with 64 KiB of body escaped onto a copy: 1,258 KiB a
// connection for a 75 KB request (found by review). Built whole, a body of
// such bytes cost seven times --max-body a connection.
constexpr std::size_t built_whole_max = std::size_t{64} << 10;
constexpr std::size_t flush_at = std::size_t{64} << 10;
constexpr std::size_t piece = std::size_t{8} << 10;

// The streamed answer's own copy of the request's head strings, whose views
// end with the handler (message.hpp); the body's last until it has gone.
struct description {
  std::string head;
  std::vector<json_part> parts;

  description(const description&) = delete;  // the parts view into head
  description& operator=(const description&) = delete;
  explicit description(const http::request& req) {
    std::size_t n = req.method().size() + req.target().size() + req.version().size();
    for (auto fs : {req.headers(), req.trailers()})
      for (const auto& f : fs) n += f.name.size() + f.value.size();
    head.reserve(n);  // never grows past it: the parts view into it
    parts = parts_of(req, [this](std::string_view s) {
      std::size_t at = head.size();
      head += s;
      return std::string_view(head).substr(at);
    });
  }
};

task<void> send_description(http::body_writer& w, std::shared_ptr<const description> d) {
  std::string out;
  out.reserve(flush_at + 6 * piece);
  for (const json_part& p : d->parts) {
    for (std::size_t at = 0; at < p.bytes.size(); at += piece) {
      append(out, p, p.bytes.substr(at, piece));
      if (out.size() >= flush_at) {
        co_await w.write(out);
        out.clear();
      }
    }
  }
  co_await w.write(out);  // an empty write sends nothing
}

http::response describe_request(const http::request& req) {
  std::vector<json_part> parts = parts_of(req, [](std::string_view s) { return s; });
  std::uint64_t size = size_of(parts);
  if (size <= built_whole_max) {
    std::string out;
    out.reserve(size);
    for (const json_part& p : parts) append(out, p, p.bytes);
    return http::response::json(std::move(out));
  }
  auto d = std::make_shared<const description>(req);
  http::response r;
  r.content_type("application/json");
  r.stream([d](http::body_writer& w) { return send_description(w, d); }, size);
  return r;
}

}  // namespace

std::shared_ptr<const http::router> inspect_routes() {
  auto routes = std::make_shared<http::router>();
  routes->fallback(http::plain_handler([](http::request& req) { return describe_request(req); }));
  return routes;
}

}  // namespace weft::app
