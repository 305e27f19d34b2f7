#include "http/route_match.hpp"

#include "http/char_tables.hpp"
#include "http/percent_decode.hpp"

#include <algorithm>

namespace weft::http::detail {

std::vector<router::segment> split_pattern(std::string_view pattern) {
  std::vector<std::string_view> raw;
  while (!pattern.empty()) {
    if (pattern.front() == '/') {
      pattern.remove_prefix(1);
      continue;
    }
    std::string_view s = pattern.substr(0, pattern.find('/'));
    raw.push_back(s);
    pattern.remove_prefix(s.size());
  }
  std::vector<router::segment> out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    router::segment& seg = out.emplace_back();
    if (raw[i].front() == ':') {
      seg.what = router::segment::param;
      seg.text = raw[i].substr(1);
    } else if (raw[i] == "*" && i + 1 == raw.size()) {
      seg.what = router::segment::rest;
    } else {
      append_percent_decoded(raw[i], false, seg.text);
    }
  }
  return out;
}

namespace {
// Whether `segment`, percent-decoded, is `want`, without decoding it into a
// buffer: the decoder's output is compared as it comes.
bool same_decoded(std::string_view want, std::string_view segment) noexcept {
  struct comparer {
    std::string_view want;
    std::size_t at = 0;
    bool differs = false;
    void push_back(char c) noexcept {
      if (at < want.size() && want[at] == c)
        ++at;
      else
        differs = true;
    }
  } out{want};
  append_percent_decoded(segment, false, out);
  return !out.differs && out.at == want.size();
}

// Whether a request's segment is the literal `want` (decoded): compared as
// it is when it holds no escape, else decoded. A raw comparison of an
// escaped segment would take "a%41" for a pattern's literal "a%41" (from
// "a%2541"), where the segment means "aA".
bool same_literal(std::string_view want, std::string_view segment) noexcept {
  if (find_byte(segment, '%') == std::string_view::npos) return same_bytes(want, segment);
  return same_decoded(want, segment);
}
}  // namespace

bool match_path(const std::vector<router::segment>& pattern, std::string_view path,
                route_params* params) {
  std::size_t i = 0;
  for (;;) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (i == pattern.size()) return path.empty();
    const router::segment& want = pattern[i++];
    if (want.what == router::segment::rest) return true;
    if (path.empty()) return false;
    auto end = find_byte(path, '/');
    std::string_view seg = path.substr(0, end);
    path.remove_prefix(seg.size());
    if (want.what == router::segment::param) {
      if (params) params->emplace_back(want.text, seg);
    } else if (!same_literal(want.text, seg)) {
      return false;
    }
  }
}

void decode_params(route_params& params, std::vector<char>& storage) {
  std::size_t encoded = 0;
  for (const auto& p : params)
    if (find_byte(p.second, '%') != std::string_view::npos) encoded += p.second.size();
  if (encoded == 0) return;
  storage.clear();
  storage.reserve(encoded);
  for (auto& [name, value] : params) {
    if (find_byte(value, '%') == std::string_view::npos) continue;
    std::size_t start = storage.size();
    append_percent_decoded(value, false, storage);
    value = std::string_view(storage.data() + start, storage.size() - start);
  }
}

namespace {
std::string form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_percent_decoded(s, true, out);
  return out;
}
}  // namespace

std::optional<std::string> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.empty()) continue;  // "a&&b": no pair between, as WHATWG's parser reads it
    std::string_view key = pair.substr(0, pair.find('='));
    std::string_view value =
        key.size() < pair.size() ? pair.substr(key.size() + 1) : std::string_view{};
    if (form_decode(key) == name) return form_decode(value);
  }
  return std::nullopt;
}

}  // namespace weft::http::detail
