#include "dir_listing.hpp"

#include "open_beneath.hpp"
#include "sys/linux/syscalls.hpp"

#include <weft/core/unique_fd.hpp>
#include <weft/http/preconditions.hpp>
#include <weft/http/static_path.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace weft::http::detail {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string url_escape(std::string_view text, std::string_view keep) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || keep.find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string human_size(std::uint64_t bytes) {
  static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  // 1023.95 and up would print as "1024.0": that is 1.0 of the next unit.
  while (v >= 1023.95 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

namespace {

constexpr std::string_view page_style =
    "body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}"
    "main{max-width:56rem;margin:2rem auto;padding:0 1rem}"
    "h1{font-size:1.25rem;font-weight:600;word-break:break-all}"
    "table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #dde1e7}"
    "th,td{padding:.4rem .75rem;text-align:left;border-bottom:1px solid #eef0f3}"
    "th{font-weight:600;background:#eef0f3}td.n{text-align:right;white-space:nowrap}"
    "td.t{white-space:nowrap;color:#5b6475}a{color:#1a5fb4;text-decoration:none}"
    "a:hover{text-decoration:underline}";

// "2026-11-22 08:05" (UTC), from the same calendar arithmetic as HTTP dates.
std::string short_time(std::int64_t seconds) {
  std::string d = format_http_date(seconds);  // "Sun, 22 Nov 2026 08:05:00 GMT"
  static constexpr std::string_view months = "JanFebMarAprMayJunJulAugSepOctNovDec";
  auto m = months.find(d.substr(8, 3)) / 3 + 1;
  char buf[24];
  std::snprintf(buf, sizeof buf, "%s-%02zu-%s %s", d.substr(12, 4).c_str(), m,
                d.substr(5, 2).c_str(), d.substr(17, 5).c_str());
  return buf;
}

void add_row(std::string& out, const listing_entry& e) {
  std::string label = html_escape(e.name) + (e.directory ? "/" : "");
  out += "<tr><td><a href=\"";
  out += url_escape(e.name);
  if (e.directory) out += '/';
  out += "\">" + label + "</a></td><td class=\"n\">";
  out += e.directory ? "&mdash;" : human_size(e.size);
  out += "</td><td class=\"t\">" + short_time(e.mtime_s) + "</td></tr>\n";
}

}  // namespace

std::string render_listing(std::string_view relative, std::vector<listing_entry> entries,
                           bool cut) {
  std::sort(entries.begin(), entries.end(), [](const listing_entry& a, const listing_entry& b) {
    if (a.directory != b.directory) return a.directory;
    return a.name < b.name;
  });
  std::string title = "Index of /" + html_escape(relative) + (relative.empty() ? "" : "/");
  std::string out =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>" +
      title + "</title><style>" + std::string(page_style) + "</style></head>\n<body><main><h1>" +
      title +
      "</h1>\n<table><thead><tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr>"
      "</thead>\n<tbody>\n";
  if (!relative.empty())
    out += "<tr><td><a href=\"../\">../</a></td><td class=\"n\"></td><td class=\"t\"></td></tr>\n";
  for (const auto& e : entries) add_row(out, e);
  out += "</tbody></table>";
  if (cut)
    out += "<p>This directory holds more than " + std::to_string(entries.size()) +
           " entries; the others were left out.</p>";
  out += "</main></body></html>\n";
  return out;
}

namespace {
// A name worth listing: one that resolve_static_path would let through.
bool reachable(std::string_view name, bool dotfiles) {
  if (name.empty() || name == "." || name == ".." || name.size() > max_segment) return false;
  if (name.front() == '.' && !dotfiles) return false;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  }
  return valid_utf8(name);
}
}  // namespace

namespace {
bool out_of_resources(int err) noexcept {
  return err == EMFILE || err == ENFILE || err == ENOMEM;
}

// What a request for `name` in the listed directory would find, as `e`;
// false when it would be refused or find nothing, or when it cannot be
// told for want of descriptors or memory, which `shortage` then names. A
// symlink is followed from the root (open_beneath), as a request for it
// would be: the listing never shows the size or age of anything outside
// the root.
bool stat_entry(int root_dir, int dir, std::string_view relative, std::string name, bool dotfiles,
                int& steps, listing_entry& e, int& shortage) {
  struct ::stat st {};
  if (auto r = sys::fstatat(dir, name.c_str(), st, AT_SYMLINK_NOFOLLOW); !r.ok()) {
    if (out_of_resources(r.err)) shortage = r.err;
    return false;
  }
  if (S_ISLNK(st.st_mode)) {
    // Resolved by the walk, which spends a step per component: openat2's
    // own resolution, however long (40 links of 4 KiB each), cost six
    // steps, and one listing blocked its loop for 91 s (found by review).
    int fd =
        open_beneath(root_dir, relative.empty() ? name : std::string(relative) + "/" + name, &st,
                     {.how = open_strategy::walk,
                      .dotfiles = dotfiles,
                      .directory_handle = true,
                      .walk_budget = &steps});
    if (fd < 0) {
      if (out_of_resources(-fd)) shortage = -fd;
      return false;
    }
    unique_fd close_it(fd);
  }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return false;
  e = {std::move(name), S_ISDIR(st.st_mode), static_cast<std::uint64_t>(st.st_size),
       static_cast<std::int64_t>(st.st_mtim.tv_sec)};
  return true;
}
}  // namespace

int read_listing(int root_dir, std::string_view relative, bool dotfiles,
                 std::vector<listing_entry>& out, bool& cut, std::size_t limit, int steps) {
  cut = false;
  // A descriptor of our own: getdents moves the file position.
  int opened = open_beneath(root_dir, relative, nullptr, {.dotfiles = dotfiles});
  if (opened < 0) return -opened;
  unique_fd dir(opened);
  constexpr std::size_t buf_size = std::size_t{32} * 1024;
  auto buf = std::make_unique<char[]>(buf_size);
  for (;;) {
    auto n = sys::getdents(dir.get(), buf.get(), buf_size);
    if (!n.ok()) return n.err;
    if (n.value == 0) return 0;
    // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name.
    for (std::size_t at = 0; at < n.value;) {
      std::uint16_t reclen;
      std::memcpy(&reclen, buf.get() + at + 16, sizeof reclen);
      std::string_view name(buf.get() + at + 19);
      at += reclen;
      // Every entry spends a step, listed or not (a link five more, in
      // stat_entry): links to nowhere and FIFOs are left out, and neither
      // the limit nor the walk's steps stopped them; 100,000 dangling links
      // took a listing 1.7 s, its loop blocked (found by review).
      --steps;
      listing_entry e;
      // A page without the links that could not be looked at, for want
      // of descriptors, was a 200 that said nothing of them (found by
      // review): the whole listing fails instead, a 503.
      int shortage = 0;
      bool listed =
          reachable(name, dotfiles) && stat_entry(root_dir, dir.get(), relative, std::string(name),
                                                  dotfiles, steps, e, shortage);
      if (shortage != 0) return shortage;
      if (steps < 0) {  // the walk's steps are spent: the rest is not looked at
        cut = true;
        return 0;
      }
      if (!listed) continue;
      if (out.size() == limit) {
        cut = true;
        return 0;
      }
      out.push_back(std::move(e));
    }
  }
}

}  // namespace weft::http::detail
