// The conditional-request and Range parsers (RFC 9110 §13, §14), which
// `weft files` runs on every GET. Input: 8 bytes of file size, then a
// header value. Asserts that a partial range lies inside the file; that
// select_range without If-Range is parse_range; that an HTTP-date read
// back from its IMF-fixdate is the same second, and that the date parsed
// prints and parses to itself; and that a strong If-Match match is also
// a weak If-None-Match match (the strong comparison implies the weak); that
// If-Range keeps or drops the Range as its tag matches; and that the date
// conditions hold at their date and fail a second on, and yield to the tag
// conditions. (Until 2026-12-07 the date conditions were called with a tag
// list too, so their dates were never read: found by review.)

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
  // If-Range (RFC 9110 §13.1.5): naming the file's strong tag, the Range
  // stands; naming another, the whole file is sent.
  byte_range same = select_range(value, "\"t\"", "\"t\"", 0, now_s, size);
  FUZZ_CHECK(same.kind == r.kind && same.first == r.first && same.length == r.length);
  FUZZ_CHECK(select_range(value, "\"u\"", "\"t\"", 0, now_s, size).kind == byte_range::whole);
}

// A field value without the optional whitespace around it (RFC 9110 §5.5).
std::string_view trim_for_dates(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// If-Unmodified-Since and If-Modified-Since (RFC 9110 §13.1.4, §13.1.3):
// against a file modified at the date itself and a second after it; a
// value that is no date is ignored; and the tag conditions come first
// (§13.2.2), which a list of tags decides whatever the date says.
void check_conditions(std::string_view value) {
  std::optional<std::int64_t> t = parse_http_date(trim_for_dates(value), now_s);
  if (t) {
    FUZZ_CHECK(!precondition_failed(std::nullopt, value, "\"x\"", *t, now_s));
    FUZZ_CHECK(precondition_failed(std::nullopt, value, "\"x\"", *t + 1, now_s));
    FUZZ_CHECK(not_modified(std::nullopt, value, "\"x\"", *t, now_s));
    FUZZ_CHECK(!not_modified(std::nullopt, value, "\"x\"", *t + 1, now_s));
  } else {
    FUZZ_CHECK(!precondition_failed(std::nullopt, value, "\"x\"", now_s, now_s));
    FUZZ_CHECK(!not_modified(std::nullopt, value, "\"x\"", 0, now_s));
  }
  FUZZ_CHECK(precondition_failed(value, "Thu, 01 Jan 1970 00:00:00 GMT", "\"x\"", 0, now_s) ==
             !if_match_matches(value, "\"x\""));
  FUZZ_CHECK(not_modified(value, "Thu, 01 Jan 1970 00:00:00 GMT", "\"x\"", now_s, now_s) ==
             if_none_match_matches(value, "\"x\""));
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
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t file_size = 0;
  std::memcpy(&file_size, data, 8);
  // Small sizes most of the time, where the edges are; otherwise a size of
  // any width, 1 to 64 bits, from the next six bits (sizes from 2^16 to
  // 2^63 were never tried when "any size" meant the top bit set).
  if ((file_size >> 63) == 0) {
    file_size &= 0xFFFF;
  } else if (unsigned width = (file_size >> 57) & 63; width < 63) {
    file_size &= (std::uint64_t{1} << (width + 1)) - 1;
  }
  std::string_view value = weft::fuzz::as_text(data + 8, size - 8);
  check_range(value, file_size);
  check_date(value);
  check_tags(value);
  check_conditions(value);
  return 0;
}
