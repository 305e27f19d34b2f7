#pragma once
// resolve_static_path: a request path in, a safe relative file path out.
// A pure function of bytes (no I/O), and the one place where a static file
// server decides what a target names; fuzz targets call it directly.
//
//   resolve_static_path("/docs/a%20b.txt", false)  -> {0, "docs/a b.txt", false}
//   resolve_static_path("/docs/", false)           -> {0, "docs", true}
//   resolve_static_path("/docs/x/../a.txt", false) -> {0, "docs/a.txt", false}
//   resolve_static_path("/%2e%2e/etc/passwd", ...) -> {400}
//
// Threading: none; safe from any thread.

#include <string>
#include <string_view>

namespace weft::http {

struct resolved_path {
  // 0 when resolved; else the status to answer: 400 for a malformed or
  // hostile path, 404 for a hidden (dot) file or a name no file can have
  // (a segment over max_segment bytes, or over max_relative in all).
  int status = 0;
  // On success: "" for the root itself, else one or more segments joined
  // by single '/'. Guaranteed, whatever the input: no leading '/', no empty
  // segment, no "." or ".." segment, no NUL, control byte (< 0x20, 0x7f) or
  // backslash, valid UTF-8 (no overlong forms or surrogates), at most
  // max_segment bytes a segment and max_relative in all, and no segment
  // starting with '.' unless dotfiles were allowed. Opened beneath a
  // directory, it can only name something inside that directory (symlinks
  // aside: the opener refuses those that leave it).
  std::string relative;
  // The path ended in '/': the client asked for a directory.
  bool directory_form = false;
};

inline constexpr std::size_t max_segment = 255;    // NAME_MAX
inline constexpr std::size_t max_relative = 4095;  // PATH_MAX - 1

// `path` is the target's path: it starts with '/' and stops before any '?'
// (request::path()). Percent-decoding happens here, exactly once, segment
// by segment: an encoded '/' (%2f) is never a separator, so it is refused,
// and "%2e%2e" is "..", like a literal "..". Empty and "." segments are
// dropped, and a ".." drops the segment before it (RFC 3986 §5.2.4); one
// that would climb above the root is a 400. A final "." sets directory_form;
// a final ".." does not (a directory there gets the redirect to "/a/b/../").
resolved_path resolve_static_path(std::string_view path, bool allow_dotfiles);

// True when `bytes` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view bytes) noexcept;

}  // namespace weft::http
