#pragma once
// Conditional and range requests for static files (RFC 9110 §8.8, §13, §14),
// as pure functions of header values: no I/O, no clock.
//
//   file_validators v{inode, size, mtime_seconds, mtime_nanoseconds};
//   std::string tag = make_etag(v);                       // "\"1a2b-400-17..\""
//   if (precondition_failed(req.header("If-Match"), req.header("If-Unmodified-Since"), tag,
//                           v.mtime_s, now_seconds)) ... 412
//   if (not_modified(req.header("If-None-Match"), req.header("If-Modified-Since"), tag, v.mtime_s,
//                    now_seconds)) ... 304
//   byte_range r = select_range(req.header("Range"), req.header("If-Range"), tag, v.mtime_s,
//                               now_seconds, size);
//
// Threading: none; safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weft::http {

struct file_validators {
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_s = 0;    // seconds since the epoch
  std::uint32_t mtime_ns = 0;  // nanoseconds within that second
};

// A strong entity tag, quoted: inode, size and mtime in nanoseconds, hex.
// A file rewritten in place within one second still gets a new tag.
std::string make_etag(const file_validators& v);

// The first and last seconds an IMF-fixdate can show: its year has four
// digits (0001-01-01 00:00:00 and 9999-12-31 23:59:59 UTC).
inline constexpr std::int64_t http_date_earliest = -62135596800;
inline constexpr std::int64_t http_date_latest = 253402300799;

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for seconds since the
// epoch; a time outside [http_date_earliest, http_date_latest] as the
// nearest of the two.
std::string format_http_date(std::int64_t seconds);
// Any of the three HTTP-date forms (IMF-fixdate, RFC 850, asctime); nullopt
// when malformed. `now_s` (seconds since the epoch) places RFC 850's
// two-digit year: in the century that puts it nearest now, never more than
// 50 years ahead (RFC 9110 §5.6.7).
std::optional<std::int64_t> parse_http_date(std::string_view text, std::int64_t now_s) noexcept;

// If-None-Match (a list of entity tags, or "*") matches `etag` by the weak
// comparison (RFC 9110 §13.1.2). A malformed list matches nothing.
bool if_none_match_matches(std::string_view list, std::string_view etag) noexcept;

// If-Match (a list of entity tags, or "*") matches `etag` by the strong
// comparison (RFC 9110 §13.1.1): a weak tag never matches. "*" matches any
// current representation. A malformed list matches nothing.
bool if_match_matches(std::string_view list, std::string_view etag) noexcept;

// True when the answer is 412 Precondition Failed (RFC 9110 §13.2.2 steps
// 1 and 2, evaluated before If-None-Match). If-Match decides when present;
// If-Unmodified-Since is used only without it, and a malformed date is
// ignored.
bool precondition_failed(std::optional<std::string_view> if_match,
                         std::optional<std::string_view> if_unmodified_since, std::string_view etag,
                         std::int64_t mtime_s, std::int64_t now_s) noexcept;

// For GET and HEAD: true when the answer is 304 Not Modified. If-None-Match
// decides when present; If-Modified-Since is used only without it, and a
// malformed date is ignored.
bool not_modified(std::optional<std::string_view> if_none_match,
                  std::optional<std::string_view> if_modified_since, std::string_view etag,
                  std::int64_t mtime_s, std::int64_t now_s) noexcept;

struct byte_range {
  enum kind_t { whole, partial, unsatisfiable };
  kind_t kind = whole;
  std::uint64_t first = 0;   // partial: the first byte sent
  std::uint64_t length = 0;  // partial: how many bytes
};

// The Range header against a representation of `size` bytes. One range
// ("bytes=a-b", "a-", "-n", with any empty list elements around it) gives
// partial (clipped to the size) or unsatisfiable (416). A header that is
// malformed, names another unit, or asks for several ranges gives whole:
// RFC 9110 §14.2 lets a server ignore Range, and a 200 with the whole file
// is always a correct answer.
byte_range parse_range(std::string_view range, std::uint64_t size) noexcept;

// If-Range (§13.1.5): the range applies only while the representation is
// the one the client has: a strong ETag equal to `etag`, or an HTTP-date
// exactly equal to Last-Modified, and only once that second is over (before
// `now_s`), since the file could still change within it. Two changes within
// one second that both ended before `now_s` look alike to a date: a client
// must send one only from a response dated a second or more after it
// (§13.1.5 with §8.8.2.2), and a client that breaks that rule can get bytes
// of two versions, which a strong ETag (sent with every file) avoids. A
// weak tag never matches.
bool if_range_matches(std::string_view if_range, std::string_view etag, std::int64_t mtime_s,
                      std::int64_t now_s) noexcept;

// Both together: whole when there is no Range, or If-Range does not match.
byte_range select_range(std::optional<std::string_view> range,
                        std::optional<std::string_view> if_range, std::string_view etag,
                        std::int64_t mtime_s, std::int64_t now_s, std::uint64_t size) noexcept;

}  // namespace weft::http
