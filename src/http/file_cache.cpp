#include "file_cache.hpp"

#include "open_beneath.hpp"
#include "sys/linux/syscalls.hpp"

#include <weft/http/content_type.hpp>
#include <weft/http/server.hpp>
#include <weft/http/static_files.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace weft::http::detail {

namespace {
// Whether two fstats of one file name the same version of it: what its
// validators are made of.
bool same_version(const struct ::stat& a, const struct ::stat& b) noexcept {
  return a.st_ino == b.st_ino && a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
         a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// Reads a small file whole into `out`, and leaves in `st` the fstat that
// describes those bytes: one taken after the read that agrees with the one
// taken before it. A file rewritten between its stat and its read was once
// served with the new bytes under the old validators, so a client that
// held the old version got 304 for the new one, or a range of the new
// bytes spliced onto its old ones through If-Range. `out` stays null when
// the file keeps changing (a log being written, say) or outgrows a small
// file: it is then served as a large one, through its descriptor, as its
// last fstat describes it (nginx's race, and a hit that finds it changed
// loads it again). 0, or an errno. A second fstat per load, not per request.
int read_stable(int fd, struct ::stat& st, std::shared_ptr<const std::string>& out) {
  constexpr int tries = 4;
  for (int i = 0; i < tries && static_cast<std::uint64_t>(st.st_size) <= file_cache_small_file;
       ++i) {
    std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t have = 0;
    while (have < bytes.size()) {
      auto r = sys::pread(fd, bytes.data() + have, bytes.size() - have, have);
      if (!r.ok()) return r.err;
      if (r.value == 0) break;
      have += r.value;
    }
    struct ::stat after {};
    if (auto r = sys::fstat(fd, after); !r.ok()) return r.err;
    if (have == bytes.size() && same_version(st, after)) {
      out = std::make_shared<const std::string>(std::move(bytes));
      return 0;
    }
    st = after;
  }
  return 0;
}
}  // namespace

int load_file_info(unique_fd fd, const struct ::stat& first, std::string_view name, time_point now,
                   file_info& out) {
  struct ::stat st = first;
  out.bytes.reset();
  out.directory = S_ISDIR(st.st_mode);
  // Small files are read once, here, and served from memory: no sendfile
  // per request, and the validators describe exactly the bytes read.
  if (!out.directory && static_cast<std::uint64_t>(st.st_size) <= file_cache_small_file) {
    if (int err = read_stable(fd.get(), st, out.bytes); err != 0) return err;
  }
  out.stat_mtime_s = static_cast<std::int64_t>(st.st_mtim.tv_sec);
  out.v = {static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size),
           static_cast<std::int64_t>(st.st_mtim.tv_sec),
           static_cast<std::uint32_t>(st.st_mtim.tv_nsec)};
  out.etag = make_etag(out.v);
  // A date in the future (a clock set wrong, a copied archive) sent as it
  // is made If-Modified-Since answer 304 to every change until that date.
  // The clock is the Date header's, which the wall clock may be a second
  // ahead of: Last-Modified must not be later than Date (RFC 9110 §8.8.2.1).
  // One before year 1 (tmpfs holds any 64-bit time) is sent as year 1's
  // first second, which is then the date compared.
  out.v.mtime_s = std::clamp(out.v.mtime_s, http_date_earliest, http_date_seconds());
  out.lines.clear();
  out.lines.append("Content-Type: ").append(content_type_for(name)).append("\r\n");
  out.lines.append("Accept-Ranges: bytes\r\n");
  out.validators_at = out.lines.size();
  out.lines.append("ETag: ").append(out.etag).append("\r\n");
  out.lines.append("Last-Modified: ").append(format_http_date(out.v.mtime_s)).append("\r\n");
  out.opened = out.checked = now;
  // The fd closes with a small file's bytes read: a cache of small files
  // holds no descriptors.
  if (!out.bytes) out.fd = std::make_shared<const unique_fd>(std::move(fd));
  return 0;
}

namespace {
// Whether a held descriptor's file is still what its entry describes. A
// file rewritten in place keeps its inode, and within the entry's lifetime
// it was sent with its old size: a Content-Length that lied, or the new
// bytes cut to the old length under the old ETag. One fstat a loop turn,
// on large files only (small ones are served from the bytes read, which
// their validators describe exactly): the hits of one turn, which comes
// from one epoll_wait, share it. A rewrite during a turn is like one
// between the check and the send, which no check can close (a file cut
// short ends its send, and the connection, early). An fstat per hit
// cost 3.7% of the server's core on 16 KiB files (perf, bench/files).
bool unchanged(file_info& f, time_point now) noexcept {
  if (!f.fd || f.checked == now) return true;
  // Left uninitialized: fstat fills it, and clearing its 144 bytes took a
  // rep stosq (GCC 12's way over 80 bytes), which alone costs tens of cycles.
  struct ::stat st;  // NOLINT(cppcoreguidelines-pro-type-member-init)
  f.checked = now;
  return sys::fstat(f.fd->get(), st).ok() && st.st_nlink > 0 &&
         static_cast<std::uint64_t>(st.st_size) == f.v.size &&
         static_cast<std::int64_t>(st.st_mtim.tv_sec) == f.stat_mtime_s &&
         static_cast<std::uint32_t>(st.st_mtim.tv_nsec) == f.v.mtime_ns;
}
}  // namespace

file_cache::file_cache() noexcept
    : max_fds_(std::clamp<std::size_t>(sys::nofile_limit() / 64, 8, file_cache_max_fds)) {}

bool file_cache::full(std::size_t more_bytes, bool more_fd) const noexcept {
  return map_.size() >= file_cache_max_entries || bytes_ + more_bytes > file_cache_max_bytes ||
         fds_ + (more_fd ? 1 : 0) > max_fds_;
}

void file_cache::forget(const file_info& f) noexcept {
  bytes_ -= f.held_bytes();
  fds_ -= f.fd ? 1 : 0;
}

void file_cache::drop_expired(time_point now) noexcept {
  for (auto it = map_.begin(); it != map_.end();) {
    if (now - it->second.opened >= file_cache_ttl) {
      forget(it->second);
      it = map_.erase(it);
    } else {
      ++it;
    }
  }
  swept_ = now;
}

int file_cache::root(int opened, const std::string& where, time_point now) {
  int held = root_ ? root_.get() : opened;
  if (root_looked_ && now - root_checked_ < file_cache_ttl) return held;
  root_looked_ = true;
  root_checked_ = now;
  struct ::stat named {
  }, had{};
  // Gone, or not a directory now (mid-deploy): the root it had, until the
  // path names a directory again.
  if (!sys::fstatat(AT_FDCWD, where.c_str(), named, 0).ok() || !S_ISDIR(named.st_mode) ||
      !sys::fstat(held, had).ok() || (named.st_dev == had.st_dev && named.st_ino == had.st_ino))
    return held;
  auto fd = sys::openat(AT_FDCWD, where.c_str(), O_PATH | O_DIRECTORY);
  if (!fd.ok()) return held;
  root_.reset(fd.value);
  clear();
  return root_.get();
}

void file_cache::clear() noexcept {
  map_.clear();
  bytes_ = 0;
  fds_ = 0;
}

void file_cache::drop_descriptors() noexcept {
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.fd) {
      forget(it->second);
      it = map_.erase(it);
    } else {
      ++it;
    }
  }
}

void file_cache::make_room(time_point now, std::size_t more_bytes, bool more_fd) {
  drop_expired(now);
  if (!full(more_bytes, more_fd)) return;
  // Still full of fresh entries (a scan of many files): start over rather
  // than track recency on every hit. Short of descriptors alone, only the
  // entries that hold one go: the small files' bytes stay, where a scan
  // of large files threw them all away.
  if (!full(more_bytes, false)) {
    drop_descriptors();
  } else {
    clear();
  }
}

const file_info* file_cache::open(int root_dir, std::string_view relative, time_point now,
                                  bool enabled, bool dotfiles, int& err) {
  // Expired entries go once per lifetime, whichever paths are asked for: one
  // dropped only when its own path came again (or the cache filled) kept a
  // deleted or replaced large file open, its disk space pinned, for good.
  if (now - swept_ >= file_cache_ttl) drop_expired(now);
  if (enabled) {
    auto it = map_.find(relative);
    if (it != map_.end()) {
      if (now - it->second.opened < file_cache_ttl && unchanged(it->second, now))
        return &it->second;
      forget(it->second);
      map_.erase(it);
    }
  }
  struct ::stat st {};
  int fd = open_beneath(root_dir, relative, &st, {.dotfiles = dotfiles, .directory_handle = true});
  if ((fd == -EMFILE || fd == -ENFILE) && fds_ > 0) {
    // Out of descriptors, and some are ours: give them back rather than
    // fail this and every later miss until the limit is raised (256 per
    // loop, on many loops, can be all of a default RLIMIT_NOFILE). The
    // small files' bytes hold none, and stay.
    drop_descriptors();
    fd = open_beneath(root_dir, relative, &st, {.dotfiles = dotfiles, .directory_handle = true});
  }
  if (fd < 0) {
    err = -fd;
    return nullptr;
  }
  file_info info;
  err = load_file_info(unique_fd(fd), st, relative, now, info);
  if (err != 0) return nullptr;
  // Directories are not kept: their listings change, and they are rare.
  if (!enabled || info.directory) {
    return &scratch_.emplace(std::move(info));
  }
  if (full(info.held_bytes(), static_cast<bool>(info.fd)))
    make_room(now, info.held_bytes(), static_cast<bool>(info.fd));
  bytes_ += info.held_bytes();
  fds_ += info.fd ? 1 : 0;
  auto [it, inserted] = map_.insert_or_assign(std::string(relative), std::move(info));
  return &it->second;
}

}  // namespace weft::http::detail
