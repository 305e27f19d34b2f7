#include "file_cache.hpp"

#include "open_beneath.hpp"
#include "sys/linux/syscalls.hpp"

#include <weft/http/content_type.hpp>
#include <weft/http/server.hpp>
#include <weft/http/static_files.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace weft::http::detail {

int load_file_info(unique_fd fd, const struct ::stat& st, std::string_view name, time_point now,
                   file_info& out) {
  out.directory = S_ISDIR(st.st_mode);
  out.stat_mtime_s = static_cast<std::int64_t>(st.st_mtim.tv_sec);
  out.v = {static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size),
           static_cast<std::int64_t>(st.st_mtim.tv_sec),
           static_cast<std::uint32_t>(st.st_mtim.tv_nsec)};
  out.etag = make_etag(out.v);
  // A date in the future (a clock set wrong, a copied archive) sent as it
  // is made If-Modified-Since answer 304 to every change until that date.
  // The clock is the Date header's, which the wall clock may be a second
  // ahead of: Last-Modified must not be later than Date (RFC 9110 §8.8.2.1).
  out.v.mtime_s = std::min(out.v.mtime_s, http_date_seconds());
  out.lines.clear();
  out.lines.append("Content-Type: ").append(content_type_for(name)).append("\r\n");
  out.lines.append("Accept-Ranges: bytes\r\n");
  out.validators_at = out.lines.size();
  out.lines.append("ETag: ").append(out.etag).append("\r\n");
  out.lines.append("Last-Modified: ").append(format_http_date(out.v.mtime_s)).append("\r\n");
  out.opened = now;
  out.bytes.reset();
  if (!out.directory && out.v.size <= file_cache_small_file) {
    // Small files are read once, here, and served from memory: no sendfile
    // per request. A file that changes size while we read keeps the bytes
    // read, and its validators describe exactly those.
    std::string bytes(out.v.size, '\0');
    std::size_t have = 0;
    while (have < bytes.size()) {
      auto r = sys::pread(fd.get(), bytes.data() + have, bytes.size() - have, have);
      if (!r.ok()) return r.err;
      if (r.value == 0) break;
      have += r.value;
    }
    bytes.resize(have);
    out.v.size = have;
    out.bytes = std::make_shared<const std::string>(std::move(bytes));
    return 0;  // the fd closes: a cache of small files holds no descriptors
  }
  out.fd = std::move(fd);
  return 0;
}

namespace {
// Whether a held descriptor's file is still what its entry describes. A
// file rewritten in place keeps its inode, and within the entry's lifetime
// it was sent with its old size: a Content-Length that lied, or the new
// bytes cut to the old length under the old ETag. One fstat per hit, on
// large files only (small ones are served from the bytes read, which
// their validators describe exactly).
bool unchanged(const file_info& f) noexcept {
  if (!f.fd) return true;
  struct ::stat st {};
  return sys::fstat(f.fd.get(), st).ok() && st.st_nlink > 0 &&
         static_cast<std::uint64_t>(st.st_size) == f.v.size &&
         static_cast<std::int64_t>(st.st_mtim.tv_sec) == f.stat_mtime_s &&
         static_cast<std::uint32_t>(st.st_mtim.tv_nsec) == f.v.mtime_ns;
}
}  // namespace

bool file_cache::full(std::size_t more_bytes, bool more_fd) const noexcept {
  return map_.size() >= file_cache_max_entries || bytes_ + more_bytes > file_cache_max_bytes ||
         fds_ + (more_fd ? 1 : 0) > file_cache_max_fds;
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

void file_cache::clear() noexcept {
  map_.clear();
  bytes_ = 0;
  fds_ = 0;
}

bool file_cache::close_descriptors_except(const file_info& keep) noexcept {
  std::size_t before = fds_;
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.fd && &it->second != &keep) {
      forget(it->second);
      it = map_.erase(it);
    } else {
      ++it;
    }
  }
  return fds_ < before;
}

void file_cache::make_room(time_point now, std::size_t more_bytes, bool more_fd) {
  drop_expired(now);
  // Still full of fresh entries (a scan of many files): start over rather
  // than track recency on every hit.
  if (full(more_bytes, more_fd)) clear();
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
      if (now - it->second.opened < file_cache_ttl && unchanged(it->second)) return &it->second;
      forget(it->second);
      map_.erase(it);
    }
  }
  struct ::stat st {};
  int fd = open_beneath(root_dir, relative, &st, {.dotfiles = dotfiles, .directory_handle = true});
  if ((fd == -EMFILE || fd == -ENFILE) && fds_ > 0) {
    // Out of descriptors, and some are ours: give them back rather than
    // fail this and every later miss until the limit is raised (64 per
    // loop, on many loops, can be all of a default RLIMIT_NOFILE).
    clear();
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
