#pragma once
// The HTML page a static file server shows for a directory without an
// index.html: reading the entries (I/O) is kept apart from rendering them
// (pure), so the escaping is tested without a file system.
//
// Threading: free functions; safe from any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weft::http::detail {

struct listing_entry {
  std::string name;
  bool directory = false;
  std::uint64_t size = 0;
  std::int64_t mtime_s = 0;
};

// Text for HTML content and attribute values: & < > " ' escaped.
std::string html_escape(std::string_view text);
// One path segment for an href: everything but unreserved bytes
// (A-Z a-z 0-9 - . _ ~) percent-encoded, so a name like "a:b" or "#x"
// stays a relative path segment.
std::string url_escape_segment(std::string_view segment);
// "0 B", "1.0 KiB", "3.4 MiB", ...
std::string human_size(std::uint64_t bytes);

// The page for the directory at `relative` ("" is the root). Sorts
// `entries` (directories first, then by name) and escapes every name.
std::string render_listing(std::string_view relative, std::vector<listing_entry> entries);

// Reads the entries of directory `dir_fd` (not consumed), at most
// max_listing of them, skipping dotfiles unless `dotfiles`, and names that
// no request could reach (see resolve_static_path). 0, or an errno.
inline constexpr std::size_t max_listing = 10000;
int read_listing(int dir_fd, bool dotfiles, std::vector<listing_entry>& out);

}  // namespace weft::http::detail
