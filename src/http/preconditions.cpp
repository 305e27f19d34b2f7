#include <weft/http/preconditions.hpp>

#include "field_syntax.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace weft::http {
namespace {

constexpr std::array<std::string_view, 7> weekdays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> long_weekdays{
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 for a proleptic Gregorian date, and back (Howard
// Hinnant's algorithms): no libc time zone machinery, so no I/O.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  auto yoe = static_cast<unsigned>(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) noexcept {
  z += 719468;
  std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  auto doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

// A small cursor over a date string.
struct cursor {
  std::string_view s;
  bool lit(std::string_view w) noexcept {
    if (s.substr(0, w.size()) != w) return false;
    s.remove_prefix(w.size());
    return true;
  }
  bool num(std::size_t digits, unsigned& out) noexcept {
    if (s.size() < digits) return false;
    out = 0;
    for (std::size_t i = 0; i < digits; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + static_cast<unsigned>(s[i] - '0');
    }
    s.remove_prefix(digits);
    return true;
  }
  // A day name of `names`, spelled as RFC 9110 §5.6.7 has it (case
  // matters: "WED" is no name, and the field is ignored, which is always
  // safe). nginx and Apache skip the name unread; that it names the date's
  // own day is not checked here either.
  bool day_name(const std::array<std::string_view, 7>& names) noexcept {
    for (std::string_view n : names)
      if (lit(n)) return true;
    return false;
  }
  bool month(unsigned& out) noexcept {
    for (unsigned i = 0; i < months.size(); ++i)
      if (lit(months[i])) return out = i + 1, true;
    return false;
  }
  bool time(unsigned& h, unsigned& mi, unsigned& se) noexcept {
    return num(2, h) && lit(":") && num(2, mi) && lit(":") && num(2, se);
  }
};

unsigned days_in(std::int64_t y, unsigned month) noexcept {
  constexpr std::array<unsigned, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
  return month == 2 && leap ? 29 : days[month - 1];
}

// A day past its month's end is no date (RFC 5322 §3.3, which IMF-fixdate
// comes from): "31 Feb" was read as 3 March (found by review).
std::optional<std::int64_t> to_seconds(std::int64_t y, unsigned mo, unsigned d, unsigned h,
                                       unsigned mi, unsigned se) noexcept {
  if (d < 1 || d > days_in(y, mo) || h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::int64_t t =
      days_from_civil(y, mo, d) * 86400 + std::int64_t{h} * 3600 + std::int64_t{mi} * 60 + se;
  // Held within the years a date can be sent in, as format_http_date holds
  // a time: 9999's last leap second read as year 10000, and year 0000, were
  // times no date could say back (found by the preconditions fuzz target).
  return std::clamp(t, http_date_earliest, http_date_latest);
}

// RFC 9110 §5.6.7: a two-digit year is the one with those digits nearest
// `now_s`, and one more than 50 years ahead is the most recent past one.
std::int64_t full_year(unsigned yy, std::int64_t now_s) noexcept {
  std::int64_t days = now_s >= 0 ? now_s / 86400 : (now_s - 86399) / 86400;
  std::int64_t now_y;
  unsigned m, d;
  civil_from_days(days, now_y, m, d);
  std::int64_t y = now_y - (now_y % 100 + 100) % 100 + yy;
  if (y > now_y + 50) return y - 100;
  if (y <= now_y - 50) return y + 100;
  return y;
}

std::optional<std::int64_t> parse_date(cursor c, std::int64_t now_s) noexcept {
  unsigned d, mo, y, h, mi, se;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  std::string_view rest = c.s;
  auto comma = rest.find(',');
  if (comma == 3) {
    if (!c.day_name(weekdays) || !c.lit(", ")) return std::nullopt;
    if (c.num(2, d) && c.lit(" ") && c.month(mo) && c.lit(" ") && c.num(4, y) && c.lit(" ") &&
        c.time(h, mi, se) && c.lit(" GMT") && c.s.empty())
      return to_seconds(y, mo, d, h, mi, se);
    return std::nullopt;
  }
  if (comma != std::string_view::npos && comma > 3) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT".
    if (!c.day_name(long_weekdays) || !c.lit(", ")) return std::nullopt;
    if (c.num(2, d) && c.lit("-") && c.month(mo) && c.lit("-") && c.num(2, y) && c.lit(" ") &&
        c.time(h, mi, se) && c.lit(" GMT") && c.s.empty())
      return to_seconds(full_year(y, now_s), mo, d, h, mi, se);
    return std::nullopt;
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (!c.day_name(weekdays) || !c.lit(" ") || !c.month(mo) || !c.lit(" ")) return std::nullopt;
  bool day = c.lit(" ") ? c.num(1, d) : c.num(2, d);  // " 6" or "16"
  if (day && c.lit(" ") && c.time(h, mi, se) && c.lit(" ") && c.num(4, y) && c.s.empty())
    return to_seconds(y, mo, d, h, mi, se);
  return std::nullopt;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The opaque tag ("...", quotes included) without W/, or empty if malformed.
std::string_view opaque_tag(std::string_view tag) noexcept {
  if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
  if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') return {};
  return tag;
}

// A byte position: one or more digits, read as UINT64_MAX when past 64 bits.
// RFC 9110 §14.1.1 has recipients expect large numerals rather than refuse
// them: "0-99999999999999999999" asks for all of a file, and its first
// position past every file's end is unsatisfiable, not malformed.
bool parse_position(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    auto d = static_cast<std::uint64_t>(c - '0');
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
  }
  out = v;
  return true;
}

}  // namespace

std::string make_etag(const file_validators& v) {
  char buf[80];
  auto ns = static_cast<unsigned long long>(v.mtime_s) * 1000000000ull + v.mtime_ns;
  int n =
      std::snprintf(buf, sizeof buf, "\"%llx-%llx-%llx\"", static_cast<unsigned long long>(v.inode),
                    static_cast<unsigned long long>(v.size), ns);
  return {buf, static_cast<std::size_t>(n)};
}

std::string format_http_date(std::int64_t seconds) {
  seconds = std::clamp(seconds, http_date_earliest, http_date_latest);
  std::int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
  std::int64_t secs = seconds - days * 86400;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  auto wd = static_cast<std::size_t>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02lld:%02lld:%02lld GMT",
                        weekdays[wd].data(), d, months[m - 1].data(), static_cast<long long>(y),
                        static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                        static_cast<long long>(secs % 60));
  return {buf, static_cast<std::size_t>(n)};
}

std::optional<std::int64_t> parse_http_date(std::string_view text, std::int64_t now_s) noexcept {
  return parse_date(cursor{text}, now_s);
}

namespace {
// Whether an entity-tag list (or "*") holds a tag that `same` accepts.
// Elements are separated by commas, but a tag may hold one: each is read up
// to its closing quote, not to the next comma. A malformed list holds none,
// so it is read to its end even once a tag matched.
template <class Same>
bool list_holds(std::string_view list, Same same) noexcept {
  list = trim(list);
  if (list == "*") return true;
  bool held = false;
  while (!list.empty()) {
    while (!list.empty() && (list.front() == ',' || list.front() == ' ' || list.front() == '\t'))
      list.remove_prefix(1);
    if (list.empty()) break;
    std::size_t start = list.substr(0, 2) == "W/" ? 2 : 0;
    if (list.size() <= start || list[start] != '"') return false;
    auto close = list.find('"', start + 1);
    if (close == std::string_view::npos) return false;
    held = held || same(list.substr(0, close + 1));
    list = trim(list.substr(close + 1));
    if (!list.empty() && list.front() != ',') return false;  // "a" "b": no separator
  }
  return held;
}
}  // namespace

bool if_none_match_matches(std::string_view list, std::string_view etag) noexcept {
  std::string_view mine = opaque_tag(etag);
  return list_holds(list,
                    [&](std::string_view t) { return !mine.empty() && opaque_tag(t) == mine; });
}

bool if_match_matches(std::string_view list, std::string_view etag) noexcept {
  bool strong = !etag.starts_with("W/") && !opaque_tag(etag).empty();
  return list_holds(list, [&](std::string_view t) { return strong && t == etag; });
}

bool precondition_failed(std::optional<std::string_view> if_match,
                         std::optional<std::string_view> if_unmodified_since, std::string_view etag,
                         std::int64_t mtime_s, std::int64_t now_s) noexcept {
  if (if_match) return !if_match_matches(*if_match, etag);
  if (!if_unmodified_since) return false;
  auto since = parse_http_date(trim(*if_unmodified_since), now_s);
  return since && mtime_s > *since;
}

bool not_modified(std::optional<std::string_view> if_none_match,
                  std::optional<std::string_view> if_modified_since, std::string_view etag,
                  std::int64_t mtime_s, std::int64_t now_s) noexcept {
  if (if_none_match) return if_none_match_matches(*if_none_match, etag);
  if (!if_modified_since) return false;
  auto since = parse_http_date(trim(*if_modified_since), now_s);
  return since && mtime_s <= *since;
}

byte_range parse_range(std::string_view range, std::uint64_t size) noexcept {
  range = trim(range);
  // The unit is case-insensitive (RFC 9110 §14.1).
  if (range.size() < 6) return {};
  for (std::size_t i = 0; i < 5; ++i)
    if ((range[i] | 0x20) != "bytes"[i]) return {};
  if (range[5] != '=') return {};
  // The one non-empty element of the list: empty ones are ignored (RFC 9110
  // §5.6.1.2 says a recipient MUST), and several ranges get the whole file.
  std::string_view spec, list = range.substr(6);
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view element = trim(list.substr(0, comma));
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    if (element.empty()) continue;
    if (!spec.empty()) return {};
    spec = element;
  }
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  std::uint64_t first = 0, last = 0;
  if (a.empty()) {
    // "-n": the last n bytes. Of an empty file that is all of it, which no
    // Content-Range can name ("bytes 0--1/0"): the whole file, a 200.
    if (!parse_position(b, last)) return {};
    if (last == 0) return {byte_range::unsatisfiable};
    if (size == 0) return {};
    std::uint64_t n = std::min(last, size);
    return {byte_range::partial, size - n, n};
  }
  if (!parse_position(a, first)) return {};
  if (b.empty()) {
    last = UINT64_MAX;
  } else if (!parse_position(b, last) || last < first) {
    return {};  // "5-3" is invalid syntax, which a server ignores
  }
  if (first >= size) return {byte_range::unsatisfiable};
  last = std::min(last, size - 1);
  return {byte_range::partial, first, last - first + 1};
}

bool if_range_matches(std::string_view if_range, std::string_view etag, std::int64_t mtime_s,
                      std::int64_t now_s) noexcept {
  if_range = trim(if_range);
  if (!if_range.empty() && if_range.front() == '"') return if_range == etag;
  if (if_range.substr(0, 2) == "W/") return false;
  auto date = parse_http_date(if_range, now_s);
  return date && *date == mtime_s && mtime_s < now_s;
}

byte_range select_range(std::optional<std::string_view> range,
                        std::optional<std::string_view> if_range, std::string_view etag,
                        std::int64_t mtime_s, std::int64_t now_s, std::uint64_t size) noexcept {
  if (!range) return {};
  if (if_range && !if_range_matches(*if_range, etag, mtime_s, now_s)) return {};
  return parse_range(*range, size);
}

}  // namespace weft::http
