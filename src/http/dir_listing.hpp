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
// Every byte but unreserved ones (A-Z a-z 0-9 - . _ ~) and those in `keep`
// percent-encoded. With nothing kept, one path segment for an href: a name
// like "a:b" or "#x" stays a relative path segment.
std::string url_escape(std::string_view text, std::string_view keep = {});
// "0 B", "1.0 KiB", "3.4 MiB", ...
std::string human_size(std::uint64_t bytes);

// The page for the directory at `relative` ("" is the root). Sorts
// `entries` (directories first, then by name) and escapes every name.
// `cut`: the entries are not all of them (read_listing's limit), and the
// page says so.
std::string render_listing(std::string_view relative, std::vector<listing_entry> entries,
                           bool cut = false);

// Reads the entries of the directory at `relative` beneath `root_dir`: at
// most `limit`, with `cut` set when there were more. Each is listed as a
// request for it would find it: a symlink as the file or directory it leads
// to inside the root. Left out: dotfiles unless `dotfiles`, names that no
// request could reach (see resolve_static_path), and what a request would
// be refused (anything but files and directories; links out of the root or
// to nothing). 0, or an errno. At most `steps` are spent in all: one per
// entry looked at, listed or not, and for a link one per component of the
// path and the targets that weft's own walk (open_beneath's) follows for
// it. Past them the listing is cut.
inline constexpr std::size_t max_listing = 10000;
// A step costs 2-3.5 us (a review's 8,000 links of ~800 components each
// took 12 s, and 5,000 chained absolute links 1.37 s; 87 and 217 ms with
// twice this budget): at most ~110 ms a listing, while absolute links of a
// few components each, the usual kind, still list several thousand.
inline constexpr int max_listing_steps = 32768;
int read_listing(int root_dir, std::string_view relative, bool dotfiles,
                 std::vector<listing_entry>& out, bool& cut, std::size_t limit = max_listing,
                 int steps = max_listing_steps);

}  // namespace weft::http::detail
