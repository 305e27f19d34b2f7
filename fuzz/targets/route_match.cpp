// The router's pure parts (http/route_match.hpp): a pattern's segments, a
// path's match with its parameters bound and decoded, and a query's
// form-encoded values. Input: a byte of flags, then up to four lines: a
// pattern, a request path, a query and a parameter name. Asserts that each
// agrees with a naive reading of router.hpp's rules (split at every '/',
// drop the empty pieces, decode each one whole, then compare), which
// allocates a string per segment where the router walks the path in place,
// and that percent-decoding gives back any bytes written as %XX escapes.

#include <cctype>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "http/percent_decode.hpp"
#include "http/route_match.hpp"

namespace {

using weft::http::router;
namespace detail = weft::http::detail;

int hex_value(char c) {
  return std::isdigit(static_cast<unsigned char>(c))
             ? c - '0'
             : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
}

// "%XX" with two hex digits is that byte; any other '%' is itself.
std::string naive_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::string_view three = s.substr(i, 3);
    if (three.size() == 3 && three[0] == '%' &&
        std::isxdigit(static_cast<unsigned char>(three[1])) &&
        std::isxdigit(static_cast<unsigned char>(three[2]))) {
      out += static_cast<char>(hex_value(three[1]) * 16 + hex_value(three[2]));
      i += 3;
    } else {
      out += plus_is_space && s[i] == '+' ? ' ' : s[i];
      ++i;
    }
  }
  return out;
}

std::vector<std::string> pieces(std::string_view s, char sep, bool keep_empty) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c != sep) {
      cur += c;
      continue;
    }
    if (keep_empty || !cur.empty()) out.push_back(cur);
    cur.clear();
  }
  if (keep_empty || !cur.empty()) out.push_back(cur);
  return out;
}

std::vector<router::segment> naive_pattern(std::string_view pattern) {
  std::vector<std::string> raw = pieces(pattern, '/', false);
  std::vector<router::segment> out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    router::segment seg;
    if (raw[i][0] == ':') {
      seg.what = router::segment::param;
      seg.text = raw[i].substr(1);
    } else if (raw[i] == "*" && i + 1 == raw.size()) {
      seg.what = router::segment::rest;
    } else {
      seg.text = naive_decode(raw[i], false);
    }
    out.push_back(seg);
  }
  return out;
}

struct naive_match {
  bool matched = false;
  std::vector<std::pair<std::string, std::string>> params;  // raw values
};

naive_match match(const std::vector<router::segment>& pattern, std::string_view path) {
  std::vector<std::string> segs = pieces(path, '/', false);
  naive_match m;
  for (std::size_t k = 0; k < pattern.size(); ++k) {
    if (pattern[k].what == router::segment::rest) {
      m.matched = true;
      return m;
    }
    if (k == segs.size()) return {};
    if (pattern[k].what == router::segment::param)
      m.params.emplace_back(pattern[k].text, segs[k]);
    else if (naive_decode(segs[k], false) != pattern[k].text)
      return {};
  }
  if (segs.size() != pattern.size()) return {};
  m.matched = true;
  return m;
}

std::optional<std::string> naive_query(std::string_view query, std::string_view name) {
  for (const std::string& pair : pieces(query, '&', false)) {
    std::size_t eq = pair.find('=');
    std::string key = pair.substr(0, eq);
    std::string value = eq == std::string::npos ? std::string() : pair.substr(eq + 1);
    if (naive_decode(key, true) == name) return naive_decode(value, true);
  }
  return std::nullopt;
}

// Returns whether the path matched.
bool check_route(std::string_view pattern, std::string_view path) {
  std::vector<router::segment> segs = detail::split_pattern(pattern);
  std::vector<router::segment> want = naive_pattern(pattern);
  FUZZ_CHECK(segs.size() == want.size());
  for (std::size_t i = 0; i < segs.size(); ++i)
    FUZZ_CHECK(segs[i].what == want[i].what && segs[i].text == want[i].text);

  detail::route_params params;
  bool matched = detail::match_path(segs, path, &params);
  naive_match m = match(want, path);
  FUZZ_CHECK(matched == m.matched);
  FUZZ_CHECK(detail::match_path(segs, path, nullptr) == matched);
  if (!matched) return false;
  FUZZ_CHECK(params.size() == m.params.size());
  for (std::size_t i = 0; i < params.size(); ++i)
    FUZZ_CHECK(params[i].first == m.params[i].first && params[i].second == m.params[i].second);

  // Bound decoded: each value is its segment decoded, and a view into the
  // path or the storage (moved to show that the views survive it).
  std::vector<char> storage;
  detail::decode_params(params, storage);
  std::vector<char> moved = std::move(storage);
  for (std::size_t i = 0; i < params.size(); ++i) {
    std::string_view v = params[i].second;
    FUZZ_CHECK(v == naive_decode(m.params[i].second, false));
    bool in_path = v.data() >= path.data() && v.data() + v.size() <= path.data() + path.size();
    bool in_storage =
        v.data() >= moved.data() && v.data() + v.size() <= moved.data() + moved.size();
    FUZZ_CHECK(in_path || in_storage);
  }
  return true;
}

// Every byte written as an escape, in upper or lower case hex, decodes
// back to itself; with '+' as a space, a '+' so written is a plus.
void check_round_trip(std::string_view bytes, bool lower) {
  const char* digits = lower ? "0123456789abcdef" : "0123456789ABCDEF";
  std::string escaped;
  for (unsigned char c : bytes) {
    escaped += '%';
    escaped += digits[c >> 4];
    escaped += digits[c & 15];
  }
  for (bool plus : {false, true}) {
    std::string out;
    detail::append_percent_decoded(escaped, plus, out);
    FUZZ_CHECK(out == bytes);
  }
  std::string same;
  detail::append_percent_decoded(bytes, false, same);
  FUZZ_CHECK(same.size() <= bytes.size() && same == naive_decode(bytes, false));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::vector<std::string> lines = pieces(weft::fuzz::as_text(data + 1, size - 1), '\n', true);
  lines.resize(std::max<std::size_t>(lines.size(), 4));
  const std::string& pattern = lines[0];
  const std::string& path = lines[1];
  check_route(pattern, path);
  // Every pattern matches itself as a path: a literal decodes alike on both
  // sides, a parameter binds its ":name", and a final "*" takes the rest.
  FUZZ_CHECK(check_route(pattern, pattern));
  FUZZ_CHECK(detail::query_value(lines[2], lines[3]) == naive_query(lines[2], lines[3]));
  check_round_trip(path, data[0] & 1);
  return 0;
}
