// The conditional-request and Range parsers (RFC 9110 §13, §14), which
// `weft files` runs on every GET. Input: 8 bytes of file size, then a
// header value. Asserts that a partial range lies inside the file; that
// select_range without If-Range is parse_range; that an HTTP-date read
// back from its IMF-fixdate is the same second, and that the date parsed
// prints and parses to itself; and that a strong If-Match match is also
// a weak If-None-Match match (the strong comparison implies the weak).

#include <weft/http/preconditions.hpp>

#include <cstring>
#include <string>

#include "fuzz_check.hpp"

namespace {

using namespace weft::http;

constexpr std::int64_t now_s = 1700000000;  // 2023-11-14: RFC 850 years near it

void check_range(std::string_view value, std::uint64_t size) {
  byte_range r = parse_range(value, size);
  if (r.kind == byte_range::partial) {
    FUZZ_CHECK(r.length >= 1 && r.first < size && r.length <= size - r.first);
  }
  byte_range s = select_range(value, std::nullopt, "\"t\"", 0, now_s, size);
  FUZZ_CHECK(s.kind == r.kind && s.first == r.first && s.length == r.length);
}

void check_date(std::string_view value) {
  std::optional<std::int64_t> t = parse_http_date(value, now_s);
  if (!t) return;
  FUZZ_CHECK(*t >= http_date_earliest && *t <= http_date_latest);
  std::string printed = format_http_date(*t);
  std::optional<std::int64_t> again = parse_http_date(printed, now_s);
  FUZZ_CHECK(again && *again == *t);
  FUZZ_CHECK(format_http_date(*again) == printed);
}

void check_tags(std::string_view list) {
  // Tags the list may name: its own quoted pieces, strong and weak.
  for (std::size_t open = list.find('"'); open != std::string_view::npos;
       open = list.find('"', open + 1)) {
    std::size_t close = list.find('"', open + 1);
    if (close == std::string_view::npos) break;
    std::string tag(list.substr(open, close - open + 1));
    for (const std::string& etag : {tag, "W/" + tag}) {
      if (if_match_matches(list, etag)) FUZZ_CHECK(if_none_match_matches(list, etag));
    }
  }
  (void)if_match_matches(list, "\"x\"");
  (void)if_none_match_matches(list, "W/\"x\"");
  (void)if_range_matches(list, "\"x\"", 0, now_s);
  (void)precondition_failed(list, list, "\"x\"", 0, now_s);
  (void)not_modified(list, list, "\"x\"", 0, now_s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t file_size = 0;
  std::memcpy(&file_size, data, 8);
  // Small sizes most of the time, where the edges are; any size sometimes.
  if ((file_size >> 63) == 0) file_size &= 0xFFFF;
  std::string_view value = weft::fuzz::as_text(data + 8, size - 8);
  check_range(value, file_size);
  check_date(value);
  check_tags(value);
  return 0;
}
