#pragma once
// static_files: an HTTP handler that serves the files beneath one directory.
//
//   auto files = std::make_shared<http::static_files>("public", http::static_files_options{});
//   router r;
//   r.fallback([files](http::request& req) { return files->serve(req); },
//              {.ignore_body = true});
//
// Or beneath a path of a larger site, the rest of it routed elsewhere:
//
//   http::static_files_options o;
//   o.mount = "/static";
//   auto assets = std::make_shared<http::static_files>("public", o);
//   r.get("/static/*", [assets](http::request& req) { return assets->serve(req); },
//         {.ignore_body = true});
//
// A file needs no request body: with ignore_body one is dropped, not held
// (see route_options).
//
// GET and HEAD only (405 with Allow otherwise). Targets go through
// resolve_static_path (decoded once, normalized, hostile forms refused) and
// are opened with open_beneath, so nothing outside the root is ever served.
// Files get Content-Type, a strong ETag, Last-Modified, 304 for matching
// If-None-Match / If-Modified-Since, 412 for failing If-Match /
// If-Unmodified-Since, and single byte ranges (206 / 416,
// If-Range honoured). A directory serves its index.html, or an HTML listing;
// without its trailing slash it is a 301 to the slash form. Error bodies
// are small HTML pages that never show a path or an errno.
//
// Each loop keeps a small cache of open files (an fd, its stat and, for
// small files, the bytes), so a hot file costs no open/fstat/read per
// request. An entry lives at most file_cache_ttl, so a file replaced on disk
// is served fresh within that time; a large file's descriptor is checked
// (fstat) once a loop turn, so one rewritten in place is not sent with its
// old size after the turn in which it changed. While descriptors are held,
// a timer of the loop closes expired ones though no request comes. The
// cache is bounded in entries, bytes and descriptors. A file over
// file_cache_small_file is sent from its descriptor, as nginx's
// open_file_cache does, so one rewritten in place while it is sent (or
// between the turn's check and the send) can reach a client as new bytes
// under the old validators; publish by rename (a new inode), as deploy
// tools do, and no client sees a mix.
//
// Threading: build it before serving; serve() may then be called from any
// number of loop threads at once (the cache is per thread, unlocked).

#include <weft/core/time.hpp>
#include <weft/core/unique_fd.hpp>
#include <weft/http/memory_budget.hpp>
#include <weft/http/message.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace weft::http {

struct static_files_options {
  bool dotfiles = false;      // serve and list names starting with '.'
  std::string cache_control;  // sent on files when not empty
  bool file_cache = true;     // cache fds, stats and small files per loop
  // The path the root is served at: "/static" serves root/a.css as
  // /static/a.css, and answers 404 for any path not beneath it. Matched
  // after the request's path is decoded and normalized, as a route's
  // segments are ("/%73tatic/a.css" is there, "/static/../a.css" is not).
  // Empty or "/": the root is the whole site. The mount's own segments may
  // start with '.' ("/.well-known"); dotfiles beneath it stay hidden.
  std::string mount;
  // Bytes of directory listings held at once, by every loop serving this
  // instance: a listing is built whole (up to 10,000 names, a megabyte or
  // more) and held until it has been sent, so without a bound, clients
  // asking for a large directory and reading slowly or never made the
  // server hold one per request in flight. Past it, a 503.
  std::uint64_t listing_memory = std::uint64_t{64} << 20;
};

inline constexpr duration file_cache_ttl = std::chrono::milliseconds(500);
inline constexpr std::size_t file_cache_max_entries = 1024;
// Of file bytes held: 1,024 entries of 8 KiB at most hold a quarter of it,
// so it binds only if the limits around it are raised.
inline constexpr std::size_t file_cache_max_bytes = 32u << 20;
// Files up to this size are held in memory and sent with their head in one
// sendmsg; larger ones by sendfile from the held descriptor. Measured with
// wrk on one core (server on CPU 0, wrk -c100 on CPU 1; 2026-12-05): per
// server core, memory was 4% cheaper at 8 KiB, sendfile 5% cheaper at 12
// and 16 KiB and level at 32 KiB; in requests/s sendfile was 7-16% ahead
// at every size from 8 KiB, as the client reads page-cache pages it
// already holds instead of bytes just copied on the other core. At 64 KiB,
// the old limit, a 16 KiB file cost weft's core as much as nginx's.
inline constexpr std::size_t file_cache_small_file = 8u << 10;
// Larger files' descriptors held per loop: at most this, and at most a
// 64th of the soft RLIMIT_NOFILE (at least 8), so that sixteen loops'
// caches take a quarter of the table at most and accept() keeps the rest.
inline constexpr std::size_t file_cache_max_fds = 256;

class static_files {
 public:
  // Opens the root now: throws std::system_error if it is not a directory
  // that can be opened, and std::invalid_argument for an options' value
  // that could never be served (a mount that is not a path of segments).
  static_files(const std::string& root, static_files_options opts);
  static_files(const static_files&) = delete;
  static_files& operator=(const static_files&) = delete;

  response serve(request& req) const;

 private:
  response serve_directory(request& req, std::string_view shown, std::string_view relative) const;
  // The root as opened at start, and its path (made absolute, symlinks
  // kept), which each loop looks at again once per file_cache_ttl: a root
  // swapped for another directory is served in its place.
  unique_fd root_;
  std::string root_path_;
  static_files_options opts_;
  std::string mount_;          // the mount's segments, as resolve_static_path gives them
  bool dotted_mount_ = false;  // one of them starts with '.'
  std::uint64_t id_;           // names this instance's per-thread cache
  // What the listings being sent hold, shared by the loops serving this,
  // and by each listing's response: one may outlive this instance.
  std::shared_ptr<memory_budget> listings_;
};

}  // namespace weft::http
