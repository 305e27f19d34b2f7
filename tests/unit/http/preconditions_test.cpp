// Conditional and range requests: RFC 9110 §13 and §14 as tables.
#include <weft/http/preconditions.hpp>

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace weft::http {
namespace {

constexpr std::int64_t t_1994 = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr std::int64_t t_now = 1796256000;  // Thu, 03 Dec 2026 00:00:00 GMT: "now"

TEST(http_date, formats_imf_fixdate) {
  EXPECT_EQ(format_http_date(t_1994), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(format_http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(format_http_date(4102444799), "Thu, 31 Dec 2099 23:59:59 GMT");
}

// IMF-fixdate has a four-digit year and hours 00-23 (RFC 9110 §5.6.7).
// Any file's time is formatted (tmpfs and btrfs hold any 64-bit mtime),
// and the earliest one went out as "Sat, 03 Dec 292277026596 39:30:08
// GMT", from an overflow (found by review): a time before year 1 is sent
// as its first second, one after 9999 as its last.
TEST(http_date, a_time_outside_years_1_to_9999_is_sent_as_their_nearest_end) {
  constexpr auto lowest = std::numeric_limits<std::int64_t>::min();
  constexpr auto highest = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(format_http_date(lowest), "Mon, 01 Jan 0001 00:00:00 GMT");
  EXPECT_EQ(format_http_date(-70000000000), "Mon, 01 Jan 0001 00:00:00 GMT");
  EXPECT_EQ(format_http_date(http_date_earliest), "Mon, 01 Jan 0001 00:00:00 GMT");
  EXPECT_EQ(format_http_date(http_date_latest), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(format_http_date(highest), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(format_http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
  for (std::int64_t t : {http_date_earliest, http_date_latest, std::int64_t{-1}})
    EXPECT_EQ(parse_http_date(format_http_date(t), t_now), t);
}

// A date read is held within the years a date can be sent in, as a time
// sent is: the leap second that would end year 9999 read as year 10000's
// first, and year 0000 before year 1, which no IMF-fixdate can say back
// (found by the preconditions fuzz target, fuzz/regressions/preconditions).
TEST(http_date, a_date_read_outside_years_1_to_9999_is_held_at_their_nearest_end) {
  EXPECT_EQ(parse_http_date("Fri, 31 Dec 9999 23:59:60 GMT", t_now), http_date_latest);
  EXPECT_EQ(parse_http_date("Sat, 01 Jan 0000 00:00:00 GMT", t_now), http_date_earliest);
}

TEST(http_date, parses_the_three_forms_and_refuses_others) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", t_now), t_1994);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", t_now), t_1994);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994", t_now), t_1994);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", t_now), 0);
  for (std::string bad :
       {"", "yesterday", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT x",
        "Sun Nov 6 08:49:37 1994", "Sun, 00 Nov 1994 08:49:37 GMT"})
    EXPECT_FALSE(parse_http_date(bad, t_now).has_value()) << bad;
  for (std::int64_t t :
       {std::int64_t{0}, t_1994, std::int64_t{1700000000}, std::int64_t{4102444799}})
    EXPECT_EQ(parse_http_date(format_http_date(t), t_now), t);
}

// A date that no calendar has, or a day name that is none, is no
// HTTP-date, and the field holding it is ignored (RFC 9110 §13.1.3-4):
// "31 Feb" was read as 3 March, and a 304 or 412 followed from it (found
// by review). Only the name's spelling is checked, not that it matches the
// date (nginx and Apache skip the name unread).
TEST(http_date, refuses_days_past_their_month_and_day_names_that_are_none) {
  for (std::string bad : {"Mon, 31 Feb 2099 00:00:00 GMT", "Sat, 31 Nov 2026 23:59:59 GMT",
                          "Fri, 29 Feb 2100 00:00:00 GMT", "Wed, 31 Apr 2026 00:00:00 GMT",
                          "Sunday, 31-Jun-26 00:00:00 GMT", "Sun Feb 30 08:49:37 1994",
                          "Xyz, 06 Nov 1994 08:49:37 GMT", "sun, 06 Nov 1994 08:49:37 GMT",
                          "Sonday, 06-Nov-94 08:49:37 GMT", "Sun, 06-Nov-94 08:49:37 GMT",
                          "Abc Nov  6 08:49:37 1994"})
    EXPECT_FALSE(parse_http_date(bad, t_now).has_value()) << bad;
  for (std::string good : {"Tue, 29 Feb 2000 00:00:00 GMT", "Thu, 29 Feb 2024 00:00:00 GMT",
                           "Thu, 31 Dec 2099 23:59:59 GMT", "Mon, 06 Nov 1994 08:49:37 GMT",
                           "Wednesday, 30-Apr-26 00:00:00 GMT", "Sat Feb 29 00:00:00 2020"})
    EXPECT_TRUE(parse_http_date(good, t_now).has_value()) << good;
}

// RFC 9110 §5.6.7: an RFC 850 date's two-digit year is read as the year
// with those digits nearest now, and one that would be more than 50 years
// ahead as the most recent past one. A fixed cutoff at 1970 read "70" as 1970
// in 2026, not 2070 (found by review).
TEST(http_date, reads_a_two_digit_year_within_fifty_years_of_now) {
  auto year = [](const char* yy, std::int64_t now) {
    auto t = parse_http_date(std::string("Friday, 01-Jan-") + yy + " 00:00:00 GMT", now);
    return t ? format_http_date(*t).substr(12, 4) : std::string("none");
  };
  EXPECT_EQ(year("26", t_now), "2026");
  EXPECT_EQ(year("00", t_now), "2000");
  EXPECT_EQ(year("70", t_now), "2070");
  EXPECT_EQ(year("76", t_now), "2076");  // 50 years ahead: not more
  EXPECT_EQ(year("77", t_now), "1977");
  EXPECT_EQ(year("99", t_now), "1999");
  EXPECT_EQ(year("94", t_1994), "1994");
  EXPECT_EQ(year("70", t_1994), "1970");
  EXPECT_EQ(year("44", t_1994), "2044");
  EXPECT_EQ(year("01", 4102444799), "2101");  // in 2099
}

TEST(make_etag, is_strong_and_changes_with_each_validator) {
  file_validators v{42, 1024, t_1994, 5};
  std::string tag = make_etag(v);
  EXPECT_EQ(tag.front(), '"');
  EXPECT_EQ(tag.back(), '"');
  EXPECT_NE(tag.substr(0, 2), "W/");
  for (auto w : {file_validators{43, 1024, t_1994, 5}, file_validators{42, 1025, t_1994, 5},
                 file_validators{42, 1024, t_1994 + 1, 5}, file_validators{42, 1024, t_1994, 6}})
    EXPECT_NE(make_etag(w), tag);
}

TEST(if_none_match, compares_weakly_over_a_list) {
  const std::string tag = "\"abc\"";
  struct row {
    std::string list;
    bool match;
  };
  std::vector<row> rows = {
      {"\"abc\"", true},
      {"W/\"abc\"", true},
      {"*", true},
      {" * ", true},
      {"\"x\", \"abc\"", true},
      {"\"x\",W/\"abc\"", true},
      {"\"x\" , \"y\"", false},
      {"\"ab\"", false},
      {"\"abc", false},
      {"abc", false},
      {"\"a,b\", \"abc\"", true},  // a comma inside a tag is not a separator
      {"", false},
      {",,", false},
      {"\"abc\",", true},  // empty elements are ignored (§5.6.1.2)
      // Tags are separated by commas; a list that is not one matches
      // nothing, wherever its tag stands (it matched, found by review).
      {"\"x\" \"abc\"", false},
      {"\"abc\" \"x\"", false},
      {"\"abc\"x", false},
      {"\"abc\", x", false},
  };
  for (const auto& r : rows) EXPECT_EQ(if_none_match_matches(r.list, tag), r.match) << r.list;
}

TEST(not_modified, if_none_match_wins_over_if_modified_since) {
  const std::string tag = "\"abc\"";
  std::string later = format_http_date(t_1994 + 10), earlier = format_http_date(t_1994 - 10);
  std::string same = format_http_date(t_1994);
  EXPECT_TRUE(not_modified("\"abc\"", std::nullopt, tag, t_1994, t_now));
  EXPECT_FALSE(not_modified("\"x\"", std::nullopt, tag, t_1994, t_now));
  EXPECT_FALSE(not_modified("\"x\"", later, tag, t_1994, t_now));  // INM present: IMS ignored
  EXPECT_TRUE(not_modified(std::nullopt, later, tag, t_1994, t_now));
  EXPECT_TRUE(not_modified(std::nullopt, same, tag, t_1994, t_now));
  EXPECT_FALSE(not_modified(std::nullopt, earlier, tag, t_1994, t_now));
  EXPECT_FALSE(not_modified(std::nullopt, "garbage", tag, t_1994, t_now));
  EXPECT_FALSE(not_modified(std::nullopt, std::nullopt, tag, t_1994, t_now));
}

// RFC 9110 §13.2.2 steps 1 and 2: If-Match compares strongly ("*" matches
// any current representation); If-Unmodified-Since counts only without
// If-Match, and a malformed date is ignored. True means 412.
TEST(precondition_failed, if_match_compares_strongly_over_a_list) {
  const std::string tag = "\"abc\"";
  struct row {
    std::string list;
    bool failed;
  };
  std::vector<row> rows = {
      {"\"abc\"", false},
      {"*", false},
      {" * ", false},
      {"\"x\", \"abc\"", false},
      {"\"a,b\", \"abc\"", false},
      {"W/\"abc\"", true},
      {"\"x\"", true},
      {"\"abc", true},
      {"abc", true},
      {"", true},
      {"\"x\", W/\"abc\"", true},
      {"\"abc\" \"x\"", true},  // not a list: it matches nothing
  };
  for (const auto& r : rows)
    EXPECT_EQ(precondition_failed(r.list, std::nullopt, tag, t_1994, t_now), r.failed) << r.list;
}

TEST(precondition_failed, if_unmodified_since_counts_only_without_if_match) {
  const std::string tag = "\"abc\"";
  std::string later = format_http_date(t_1994 + 10), earlier = format_http_date(t_1994 - 10);
  std::string same = format_http_date(t_1994);
  EXPECT_TRUE(precondition_failed(std::nullopt, earlier, tag, t_1994, t_now));
  EXPECT_FALSE(precondition_failed(std::nullopt, same, tag, t_1994, t_now));
  EXPECT_FALSE(precondition_failed(std::nullopt, later, tag, t_1994, t_now));
  EXPECT_FALSE(precondition_failed(std::nullopt, "garbage", tag, t_1994, t_now));
  EXPECT_FALSE(precondition_failed("\"abc\"", earlier, tag, t_1994, t_now));  // If-Match decides
  EXPECT_FALSE(precondition_failed(std::nullopt, std::nullopt, tag, t_1994, t_now));
}

TEST(parse_range, single_ranges_table) {
  struct row {
    std::string header;
    std::uint64_t size;
    byte_range::kind_t kind;
    std::uint64_t first, length;
  };
  using br = byte_range;
  std::vector<row> rows = {
      {"bytes=0-0", 100, br::partial, 0, 1},
      {"bytes=0-99", 100, br::partial, 0, 100},
      {"bytes=0-1000", 100, br::partial, 0, 100},  // clipped
      {"bytes=99-99", 100, br::partial, 99, 1},
      {"bytes=99-", 100, br::partial, 99, 1},
      {"bytes=10-", 100, br::partial, 10, 90},
      {"bytes=-1", 100, br::partial, 99, 1},
      {"bytes=-100", 100, br::partial, 0, 100},
      {"bytes=-500", 100, br::partial, 0, 100},
      {"BYTES=1-2", 100, br::partial, 1, 2},
      {" bytes= 1-2 ", 100, br::partial, 1, 2},
      {"bytes=100-", 100, br::unsatisfiable, 0, 0},
      {"bytes=100-200", 100, br::unsatisfiable, 0, 0},
      {"bytes=-0", 100, br::unsatisfiable, 0, 0},
      {"bytes=0-", 0, br::unsatisfiable, 0, 0},
      // An empty file: a suffix range is satisfiable (RFC 9110 §14.1.1),
      // and is all of it, which no Content-Range can name; the whole file.
      {"bytes=-1", 0, br::whole, 0, 0},
      // Numerals past 64 bits are large, not malformed (§14.1.1).
      {"bytes=99999999999999999999999-", 100, br::unsatisfiable, 0, 0},
      {"bytes=18446744073709551616-", 100, br::unsatisfiable, 0, 0},
      {"bytes=0-99999999999999999999999", 6, br::partial, 0, 6},
      {"bytes=2-18446744073709551616", 6, br::partial, 2, 4},
      {"bytes=-99999999999999999999999", 6, br::partial, 0, 6},
      {"bytes=4294967296-", 5000000000, br::partial, 4294967296, 705032704},
      {"bytes=4999999999-4999999999", 5000000000, br::partial, 4999999999, 1},
      // Empty list elements are ignored (RFC 9110 §5.6.1.2: a recipient
      // MUST), so one range among them is still one range.
      {"bytes=0-4,", 100, br::partial, 0, 5},
      {"bytes=,0-4", 100, br::partial, 0, 5},
      {"bytes= , 0-4 ,\t, ", 100, br::partial, 0, 5},
      {"bytes=200-,", 100, br::unsatisfiable, 0, 0},
      // Ignored (the whole file): several ranges, bad syntax, other units.
      {"bytes=0-1,5-6", 100, br::whole, 0, 0},
      {"bytes=0-1, ,5-6", 100, br::whole, 0, 0},
      {"bytes=,", 100, br::whole, 0, 0},
      {"bytes=0-4,,x", 100, br::whole, 0, 0},
      {"bytes=5-3", 100, br::whole, 0, 0},
      {"bytes=a-b", 100, br::whole, 0, 0},
      {"bytes=1", 100, br::whole, 0, 0},
      {"bytes=--1", 100, br::whole, 0, 0},
      {"bytes=", 100, br::whole, 0, 0},
      {"items=0-1", 100, br::whole, 0, 0},
      {"bytes 0-1", 100, br::whole, 0, 0},
      {"", 100, br::whole, 0, 0},
  };
  for (const auto& r : rows) {
    byte_range got = parse_range(r.header, r.size);
    EXPECT_EQ(got.kind, r.kind) << r.header;
    if (r.kind == br::partial) {
      EXPECT_EQ(got.first, r.first) << r.header;
      EXPECT_EQ(got.length, r.length) << r.header;
    }
  }
}

TEST(select_range, if_range_must_match_strongly_or_by_exact_date) {
  const std::string tag = "\"abc\"";
  auto sel = [&](std::optional<std::string_view> if_range) {
    return select_range("bytes=0-9", if_range, tag, t_1994, t_1994 + 60, 100).kind;
  };
  EXPECT_EQ(sel(std::nullopt), byte_range::partial);
  EXPECT_EQ(sel("\"abc\""), byte_range::partial);
  EXPECT_EQ(sel("\"old\""), byte_range::whole);
  EXPECT_EQ(sel("W/\"abc\""), byte_range::whole);  // weak tags never match
  std::string date = format_http_date(t_1994);
  EXPECT_EQ(sel(date), byte_range::partial);
  std::string later = format_http_date(t_1994 + 1);
  EXPECT_EQ(sel(later), byte_range::whole);
  EXPECT_EQ(sel("nonsense"), byte_range::whole);
  EXPECT_EQ(select_range(std::nullopt, "\"abc\"", tag, t_1994, t_1994 + 60, 100).kind,
            byte_range::whole);
}

// A Last-Modified of the current second is weak (RFC 9110 §8.8.2.2): the
// file may change again within it, and a copy taken earlier in that second
// would then get a range of other bytes spliced onto it.
TEST(select_range, a_date_names_a_file_only_once_its_second_has_passed) {
  const std::string tag = "\"abc\"", date = format_http_date(t_1994);
  EXPECT_EQ(select_range("bytes=0-9", date, tag, t_1994, t_1994, 100).kind, byte_range::whole);
  EXPECT_EQ(select_range("bytes=0-9", date, tag, t_1994, t_1994 + 1, 100).kind,
            byte_range::partial);
  EXPECT_EQ(select_range("bytes=0-9", tag, tag, t_1994, t_1994, 100).kind, byte_range::partial)
      << "a strong entity tag is strong at once";
}

}  // namespace
}  // namespace weft::http
