#include <weft/http/static_files.hpp>

#include "dir_listing.hpp"
#include "file_cache.hpp"
#include "open_beneath.hpp"
#include "response_lines.hpp"
#include "sys/linux/syscalls.hpp"

#include <weft/core/loop.hpp>
#include <weft/http/preconditions.hpp>
#include <weft/http/server.hpp>
#include <weft/http/static_path.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <unordered_map>

namespace weft::http {
namespace {

using weft::detail::response_lines;

std::atomic<std::uint64_t> next_id{1};

// This thread's cache for each static_files instance. Instances are few and
// long-lived, so the map of caches stays tiny.
thread_local std::unordered_map<std::uint64_t, std::unique_ptr<detail::file_cache>> caches;
thread_local std::uint64_t sweep_rounds = 0;  // timers armed so far
thread_local std::uint64_t armed_round = 0;   // the pending one's; 0: none

detail::file_cache& local_cache(std::uint64_t id) {
  auto& c = caches[id];
  if (!c) c = std::make_unique<detail::file_cache>();
  return *c;
}

time_point now() noexcept {
  loop* l = loop::current();
  return l ? l->now() : clock::now();
}

// A cache closes expired entries when asked for a file, so a loop asked for
// none kept a deleted large file open, its disk space pinned, for good.
// While a cache of this thread holds a descriptor, a timer of its loop
// sweeps them all once per file_cache_ttl. The timer runs only on this
// thread, while its loop runs, so the thread's caches are there. A loop
// destroyed (or never run again) with the timer pending drops its callback,
// and with it the flag: left set, no later loop of the thread would sweep.
void sweep_later() {
  loop* l = loop::current();
  if (armed_round != 0 || l == nullptr) return;
  std::uint64_t round = armed_round = ++sweep_rounds;
  std::shared_ptr<void> armed(nullptr, [round](void*) {
    if (armed_round == round) armed_round = 0;
  });
  l->run_after(file_cache_ttl, [armed = std::move(armed)] {
    armed_round = 0;
    bool held = false;
    for (auto& [id, c] : caches) {
      c->sweep(now());
      held = held || c->holds_descriptors();
    }
    if (held) sweep_later();
  });
}

// A file opened for one answer, from this thread's cache: the answer's
// file_info lasts until the guard goes, and then an uncached one (with
// --no-file-cache, or a directory) is let go, not at the next request,
// which an idle loop may never get.
class opened_files {
 public:
  explicit opened_files(std::uint64_t id) : cache_(local_cache(id)) {}
  opened_files(const opened_files&) = delete;
  opened_files& operator=(const opened_files&) = delete;
  ~opened_files() { cache_.release_scratch(); }
  const detail::file_info* open(int root, std::string_view relative, const static_files_options& o,
                                int& err) {
    const detail::file_info* f = cache_.open(root, relative, now(), o.file_cache, o.dotfiles, err);
    if (cache_.holds_descriptors()) sweep_later();
    return f;
  }
  // The root to open beneath: see file_cache::root.
  int root(int opened, const std::string& where) { return cache_.root(opened, where, now()); }

 private:
  detail::file_cache& cache_;
};

// A small HTML page for an error: the status and its reason, nothing about
// the file system.
response error_page(int status) {
  std::string title = std::to_string(status) + " " + std::string(reason_phrase(status));
  response r(status);
  r.content_type("text/html; charset=utf-8");
  r.body("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + title +
         "</title></head><body><h1>" + title + "</h1></body></html>\n");
  if (status == 405) r.header("Allow", "GET, HEAD");
  return r;
}

// open_beneath's errno as a status: missing is 404; refused (permissions,
// an escaping symlink, too many links) is 403.
int status_for(int err) noexcept {
  switch (err) {
    case EACCES:
    case EPERM:
    case EXDEV:
    case ELOOP:
    case ENXIO:  // a socket: open(2) has nothing to open (a FIFO is refused earlier)
      return 403;
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
      return 404;
    case EMFILE:  // out of descriptors or memory: passing, try again
    case ENFILE:
    case ENOMEM:
    case EAGAIN:  // replaced faster than it could be opened (open_beneath)
      return 503;
    default:
      return 500;
  }
}

// The lines are weft's own (response_lines.hpp); Cache-Control was checked
// when the static_files was built.
void add_validators(response& r, const detail::file_info& f, const static_files_options& o) {
  response_lines::add_lines(r, f.validator_lines());
  if (!o.cache_control.empty()) response_lines::add(r, "Cache-Control", o.cache_control);
}

// The fields that make a file request conditional or partial, read in one
// pass over the request's fields; five lookups by name cost ~220
// instructions per request (callgrind, bench/http/instructions.sh
// SERVER=files). A field on several lines is one list, its values joined
// with ", " (RFC 9110 §5.3): a date sent twice is then no date, and is
// ignored (§13.1.3, §13.1.4), where reading the first line alone was not.
class conditionals {
 public:
  enum field { if_match, if_unmodified_since, if_none_match, if_modified_since, range, if_range };

  explicit conditionals(const request& req) {
    for (const header_field& f : req.headers()) {
      int k = which(f.name);
      if (k < 0) continue;
      if (!value_[k]) {
        value_[k] = f.value;
        continue;
      }
      if (joined_[k].empty()) joined_[k] = *value_[k];
      joined_[k].append(", ").append(f.value);
      value_[k] = joined_[k];
    }
  }
  conditionals(const conditionals&) = delete;  // views into joined_
  conditionals& operator=(const conditionals&) = delete;

  std::optional<std::string_view> operator[](field k) const { return value_[k]; }

 private:
  static int which(std::string_view name) noexcept {
    switch (name.size()) {
      case 5:
        return iequals(name, "Range") ? range : -1;
      case 8:
        return iequals(name, "If-Match") ? if_match : iequals(name, "If-Range") ? if_range : -1;
      case 13:
        return iequals(name, "If-None-Match") ? if_none_match : -1;
      case 17:
        return iequals(name, "If-Modified-Since") ? if_modified_since : -1;
      case 19:
        return iequals(name, "If-Unmodified-Since") ? if_unmodified_since : -1;
      default:
        return -1;
    }
  }
  std::optional<std::string_view> value_[6];
  std::string joined_[6];
};

// A request's query as a URI, for a Location: the parser lets '"', '<',
// '{' and the like through, as some clients send them (raw non-ASCII bytes
// it refuses), but a URI may not hold them raw (RFC 3986 §2). '%' stays:
// the request's own escapes are kept as they came.
std::string uri_safe(std::string_view raw) {
  return detail::url_escape(raw, "!$&'()*+,;=:@/?%");
}

response serve_file(request& req, const detail::file_info& f, const static_files_options& o) {
  // RFC 9110 §13.2.2: If-Match and If-Unmodified-Since first, then
  // If-None-Match and If-Modified-Since, then If-Range.
  conditionals c(req);
  std::int64_t now_s = http_date_seconds();
  if (precondition_failed(c[c.if_match], c[c.if_unmodified_since], f.etag, f.v.mtime_s, now_s))
    return error_page(412);
  if (not_modified(c[c.if_none_match], c[c.if_modified_since], f.etag, f.v.mtime_s, now_s)) {
    response r(304);
    add_validators(r, f, o);
    return r;
  }
  byte_range range;
  if (req.method() == "GET" && c[c.range])
    range = select_range(c[c.range], c[c.if_range], f.etag, f.v.mtime_s, now_s, f.v.size);
  if (range.kind == byte_range::unsatisfiable) {
    response r = error_page(416);
    r.header("Content-Range", "bytes */" + std::to_string(f.v.size));
    return r;
  }
  std::uint64_t first = 0, length = f.v.size;
  response r(200);
  if (range.kind == byte_range::partial) {
    first = range.first;
    length = range.length;
    r.status(206);
    r.header("Content-Range", "bytes " + std::to_string(first) + "-" +
                                  std::to_string(first + length - 1) + "/" +
                                  std::to_string(f.v.size));
  }
  // Content-Type, Accept-Ranges and the validators, in one piece.
  response_lines::add_lines(r, f.lines);
  if (!o.cache_control.empty()) response_lines::add(r, "Cache-Control", o.cache_control);
  if (f.bytes) {
    r.body(f.bytes, first, length);
  } else {
    r.file(f.fd, first, length);  // shared with the cache, as the bytes are
  }
  return r;
}

// A mount's path as resolve_static_path gives a request's ("static/js"),
// or "" for the whole site. A request's path never holds '?' or '#': a
// mount with one would never be reached.
std::string mount_segments(const std::string& mount) {
  if (mount.empty()) return {};
  resolved_path m = resolve_static_path(mount, true);
  if (m.status != 0 || mount.find_first_of("?#") != std::string::npos)
    throw std::invalid_argument("mount: not a path of segments: " + mount);
  return m.relative;
}

// Whether a resolved path has a segment that starts with '.'.
bool dotted(std::string_view relative) noexcept {
  return relative.starts_with('.') || relative.find("/.") != std::string_view::npos;
}

// Whether `relative` (a request's resolved path) lies beneath the mount, on
// a segment boundary; if so, leaves what is beneath it.
bool beneath_mount(std::string_view& relative, std::string_view mount) noexcept {
  if (mount.empty()) return true;
  if (!relative.starts_with(mount)) return false;
  if (relative.size() == mount.size()) {
    relative = {};
    return true;
  }
  if (relative[mount.size()] != '/') return false;
  relative.remove_prefix(mount.size() + 1);
  return true;
}

// `path` from the working directory, symlinks kept (file_cache::root
// follows them anew). As given when that cannot be made ("", or a working
// directory removed): the open below then says why.
std::string absolute_path(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  return ec ? path : p.string();
}

// Whether the directory at `relative` beneath `root` holds an index.html
// (anything but a directory), looked for beside the directory's own handle:
// for a directory whose path leaves no room for the name under PATH_MAX. One
// that cannot be looked at counts as holding one, so it is not listed.
bool holds_index(int root, std::string_view relative, bool dotfiles) {
  int fd = detail::open_beneath(root, relative, nullptr,
                                {.dotfiles = dotfiles, .directory_handle = true});
  if (fd < 0) return true;
  unique_fd dir(fd);
  struct ::stat st {};
  sys::status found = sys::fstatat(dir.get(), "index.html", st, AT_SYMLINK_NOFOLLOW);
  return found.ok() ? !S_ISDIR(st.st_mode) : found.err != ENOENT;
}

}  // namespace

static_files::static_files(const std::string& root, static_files_options opts)
    : root_path_(absolute_path(root)),
      opts_(std::move(opts)),
      id_(next_id.fetch_add(1)),
      listings_(std::make_shared<memory_budget>(opts_.listing_memory)) {
  // A handle: files beneath a root one may search but not read (0711)
  // are served all the same; only its listing needs read permission. One
  // that may not be searched either serves nothing: refused here, as a
  // root that cannot be opened was (a look up of "." needs search).
  auto fd = sys::openat(AT_FDCWD, root.c_str(), O_PATH | O_DIRECTORY);
  if (!fd.ok()) throw std::system_error(fd.error(), "cannot open root " + root);
  root_.reset(fd.value);
  auto search = sys::openat(root_.get(), ".", O_PATH | O_DIRECTORY);
  if (!search.ok()) throw std::system_error(search.error(), "cannot open root " + root);
  sys::close(search.value);
  mount_ = mount_segments(opts_.mount);
  dotted_mount_ = dotted(mount_);
  // Checked once here, not per response: it is sent unchecked.
  try {
    if (!opts_.cache_control.empty()) response().header("Cache-Control", opts_.cache_control);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("cache control: a control byte (CR, LF, NUL...) in the value");
  }
}

response static_files::serve(request& req) const {
  if (req.method() != "GET" && req.method() != "HEAD") return error_page(405);
  // A mount's own segments may start with '.' ("/.well-known"): then the
  // rule is kept beneath it, on the path the walk resolved.
  bool dots_beneath = !opts_.dotfiles && dotted_mount_;
  resolved_path p = resolve_static_path(req.path(), opts_.dotfiles || dotted_mount_);
  if (p.status != 0) return error_page(p.status);
  std::string_view relative = p.relative;  // beneath the root
  if (!beneath_mount(relative, mount_) || (dots_beneath && dotted(relative)))
    return error_page(404);
  opened_files files(id_);
  int err = 0;
  const detail::file_info* f =
      files.open(files.root(root_.get(), root_path_), relative, opts_, err);
  if (!f) return error_page(status_for(err));
  if (!f->directory) return p.directory_form ? error_page(404) : serve_file(req, *f, opts_);
  if (!p.directory_form) {
    // Relative links in the page resolve against the slash form.
    response r(301);
    // The path served, as nginx's Location is: dot-segments and empty
    // segments resolved (the raw path sent "/sub/../x" to "/sub/../x/"),
    // and one leading slash only ("//sub/" would be scheme-relative, an
    // open redirect to the host "sub"; "//", for "/sub/..", names no host
    // at all). Decoded, it is escaped again, '%' too. Appended piece by
    // piece: GCC 12's -Wrestrict false positive again (see
    // endpoint::to_string).
    std::string location = "/";
    if (!p.relative.empty()) {
      location += detail::url_escape(p.relative, "!$&'()*+,;=:@/");
      location += '/';
    }
    if (!req.query().empty()) {
      location += '?';
      location += uri_safe(req.query());
    }
    r.header("Location", location);
    r.content_type("text/html; charset=utf-8");
    r.body("<!doctype html>\n<title>301 Moved Permanently</title><a href=\"" +
           detail::html_escape(location) + "\">Moved</a>\n");
    return r;
  }
  return serve_directory(req, p.relative, relative);
}

// `shown` is the directory's path in the site, `relative` beneath the root.
response static_files::serve_directory(request& req, std::string_view shown,
                                       std::string_view relative) const {
  opened_files files(id_);
  int root = files.root(root_.get(), root_path_);
  std::string index = relative.empty() ? "index.html" : std::string(relative) + "/index.html";
  int err = 0;
  const detail::file_info* f = files.open(root, index, opts_, err);
  if (f && !f->directory) return serve_file(req, *f, opts_);
  // No index.html, or none a path can name: the directory's own path left
  // no room for it under PATH_MAX, and its ENAMETOOLONG was a 404 where
  // the 301 to this slash form had led (found by review). One that is
  // there still hides the listing, though it cannot be served.
  if (!f && err == ENAMETOOLONG && holds_index(root, relative, opts_.dotfiles))
    return error_page(status_for(err));
  if (!f && err != ENOENT && err != ENAMETOOLONG) return error_page(status_for(err));
  // RFC 9110 §13.2.1: a listing has no entity tag and no date, so only
  // If-Match (fails unless "*") and If-None-Match: * (matches) can decide.
  conditionals c(req);
  std::int64_t now_s = http_date_seconds();
  if (precondition_failed(c[c.if_match], std::nullopt, {}, 0, now_s)) return error_page(412);
  if (not_modified(c[c.if_none_match], std::nullopt, {}, 0, now_s)) {
    response r(304);
    r.header("Cache-Control", "no-cache");
    return r;
  }
  std::vector<detail::listing_entry> entries;
  bool cut = false;
  if (int e = detail::read_listing(root, relative, opts_.dotfiles, entries, cut); e != 0)
    return error_page(status_for(e));
  // Held by the response until it has been sent, and counted meanwhile;
  // the budget too, as a response may outlive the static_files that made
  // it (one replaced to serve another root).
  struct held_page {
    std::shared_ptr<memory_budget> budget;
    std::string bytes;
    memory_budget::lease lease;
  };
  auto page = std::make_shared<held_page>(
      held_page{listings_, detail::render_listing(shown, std::move(entries), cut),
                memory_budget::lease(listings_.get())});
  if (!page->lease.take(page->bytes.size())) return error_page(503);
  std::size_t size = page->bytes.size();
  response r(200);
  r.content_type("text/html; charset=utf-8");
  r.header("Cache-Control", "no-cache");
  r.body(std::shared_ptr<const std::string>(page, &page->bytes), 0, size);
  return r;
}

}  // namespace weft::http
