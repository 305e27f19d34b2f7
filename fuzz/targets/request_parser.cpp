// The HTTP request parser (RFC 9112 heads). Input: a split selector byte, a
// limits byte, then the request bytes. Asserts that the result does not
// depend on how the bytes were split across reads, even when the buffer
// moves between them, and that a complete head's views are well-formed.

#include <weft/http/request_parser.hpp>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_check.hpp"

namespace {

using namespace weft::http;

// What a result says, copied out of the buffer it views.
struct summary {
  int state = 0;
  std::size_t consumed = 0;
  int status = 0;
  std::string method, target, host;
  int minor = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  int body = 0;
  std::uint64_t content_length = 0;
  bool keep_alive = false, expect_continue = false;
  bool operator==(const summary&) const = default;
};

bool contains(std::string_view outer, std::string_view inner) {
  return inner.empty() || (inner.data() >= outer.data() &&
                           inner.data() + inner.size() <= outer.data() + outer.size());
}

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

summary summarize(std::string_view in, const parse_result& r, const request_head& h) {
  summary s;
  s.state = r.state;
  s.consumed = r.consumed;
  s.status = r.status;
  if (r.state == parse_result::error) {
    FUZZ_CHECK(r.status == 400 || r.status == 413 || r.status == 414 || r.status == 431 ||
               r.status == 501 || r.status == 505);
    FUZZ_CHECK(r.reason != nullptr);
  }
  if (r.state != parse_result::complete) return s;
  FUZZ_CHECK(r.consumed >= 4 && r.consumed <= in.size());
  FUZZ_CHECK(in.substr(r.consumed - 4, 4) == "\r\n\r\n");
  std::string_view head = in.substr(0, r.consumed);
  FUZZ_CHECK(!h.method.empty() && !h.target.empty());
  FUZZ_CHECK(h.version_minor == 0 || h.version_minor == 1);
  for (std::string_view v : {h.method, h.target, h.host})
    FUZZ_CHECK(contains(head, v) && !has_line_break(v));
  for (const auto& f : h.fields) {
    FUZZ_CHECK(contains(head, f.name) && contains(head, f.value));
    FUZZ_CHECK(!f.name.empty() && !has_line_break(f.name) && !has_line_break(f.value));
    FUZZ_CHECK(f.value.empty() || (f.value.front() != ' ' && f.value.back() != ' '));
    s.fields.emplace_back(f.name, f.value);
  }
  s.method = h.method;
  s.target = h.target;
  s.host = h.host;
  s.minor = h.version_minor;
  s.body = static_cast<int>(h.body);
  s.content_length = h.content_length;
  s.keep_alive = h.keep_alive;
  s.expect_continue = h.expect_continue;
  return s;
}

// Parses `all`, first given only its first `split` bytes as an earlier read.
// Each call gets its own copy, so the second sees the bytes at a new address.
summary parse_in_two(std::string_view all, std::size_t split, const parse_limits& limits) {
  std::array<header_field, 16> storage;
  request_head head;
  parse_state state;
  if (split > 0) {
    std::string first(all.substr(0, split));
    parse_result r = parse_request(first, limits, storage, head, state);
    if (r.state != parse_result::incomplete) return summarize(first, r, head);
  }
  std::string whole(all);
  return summarize(whole, parse_request(whole, limits, storage, head, state), head);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::string_view bytes = weft::fuzz::as_text(data + 2, size - 2);
  // Small limits half the time, so 414, 431 and 413 are reached by short inputs.
  parse_limits limits;
  if (data[1] & 1) limits = {32 + data[1] / 2u, 96 + 4u * data[1], data[1] % 20u, data[1] * 16u};
  summary whole = parse_in_two(bytes, 0, limits);
  summary split = parse_in_two(bytes, weft::fuzz::split_at(data[0], bytes.size()), limits);
  FUZZ_CHECK(whole == split);
  return 0;
}
