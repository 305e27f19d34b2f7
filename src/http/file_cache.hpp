#pragma once
// file_cache: one loop's recently opened files beneath a root, with what a
// response needs precomputed (validators, ETag, Last-Modified, type, and the
// bytes of a small file). See static_files.hpp for the policy.
//
// Threading: one per thread (per loop); no locks.

#include <weft/core/time.hpp>
#include <weft/core/unique_fd.hpp>
#include <weft/http/preconditions.hpp>

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace weft::http::detail {

struct file_info {
  // A large file's descriptor (or a directory's), shared with the responses
  // that send from it (response::file) as `bytes` is: an entry dropped
  // mid-send leaves the descriptor open until its last response is done.
  std::shared_ptr<const unique_fd> fd;
  bool directory = false;
  file_validators v;
  std::string etag;
  // The response's lines for this file, built once: Content-Type (from the
  // table) and Accept-Ranges, then ETag and Last-Modified from
  // validators_at on, which a 304 sends alone. Appended one by one, they
  // cost ~60 instructions a line per response.
  std::string lines;
  std::size_t validators_at = 0;
  std::string_view validator_lines() const noexcept {
    return std::string_view(lines).substr(validators_at);
  }
  // The whole file, when it is small enough to be held (else null, and `fd`
  // is kept). Shared with the responses that send them (response::body), so
  // that an entry dropped while its bytes are still being sent keeps them
  // alive; a copy per response cost a malloc, a memcpy and a free.
  std::shared_ptr<const std::string> bytes;
  std::size_t held_bytes() const noexcept { return bytes ? bytes->size() : 0; }
  time_point opened{};
  // The loop turn (its `now`) whose hit last found a held descriptor's file
  // unchanged: the other hits of that turn take its word (see open()).
  time_point checked{};
  // st_mtim's seconds as read (v.mtime_s may be clamped to now): with
  // v.size and v.mtime_ns, what a hit on a held descriptor compares.
  std::int64_t stat_mtime_s = 0;
};

class file_cache {
 public:
  file_cache() noexcept;
  // The file at `relative` beneath `root_dir`, opened now or less than
  // file_cache_ttl ago; nullptr with `err` set (an errno) when it cannot be
  // opened or is neither a regular file nor a directory (EACCES). Entries
  // past their lifetime are closed on any call, once per lifetime; out of
  // descriptors (EMFILE, ENFILE), the cache lets go of all it holds (those
  // that responses still send from close when they are done) and tries
  // once more. With `enabled` false nothing is kept beyond the next call,
  // or beyond release_scratch(). The pointer is valid until either. `dotfiles`: as
  // open_beneath's (a cache serves one static_files, so one setting).
  const file_info* open(int root_dir, std::string_view relative, time_point now, bool enabled,
                        bool dotfiles, int& err);
  // The root to open files beneath: `opened` (the one static_files opened
  // at start) until the path `where` names another directory, then that
  // one. The path is looked at once per file_cache_ttl (two stats): a site
  // deployed by swapping a symlink to its release, or by making the root
  // anew, is served within a second, where the handle opened at start
  // served the old one for good, or 404 for everything (found by review).
  // Switching drops what the cache holds, which lies beneath the old root.
  int root(int opened, const std::string& where, time_point now);
  std::size_t size() const noexcept { return map_.size(); }
  // Closes what has outlived file_cache_ttl, as any open() does: for a
  // loop that is asked for no file, which would keep a deleted large file
  // open, its disk space pinned, for good.
  void sweep(time_point now) noexcept { drop_expired(now); }
  bool holds_descriptors() const noexcept { return fds_ > 0; }
  // The descriptors it holds at most: file_cache_max_fds, or fewer under a
  // low RLIMIT_NOFILE (read when the cache is made).
  std::size_t descriptor_cap() const noexcept { return max_fds_; }
  // Lets go of the uncached answer (with --no-file-cache, or a directory)
  // once the caller is done with it, rather than at the next call. Empty
  // after a cache hit, so nothing is done: assigning a fresh file_info
  // there cost ~110 instructions of a 1 KiB file's 3,313 (callgrind,
  // `SERVER=files DEPTH=1 bench/http/instructions.sh`).
  void release_scratch() noexcept { scratch_.reset(); }

 private:
  struct hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  bool full(std::size_t more_bytes, bool more_fd) const noexcept;
  void forget(const file_info& f) noexcept;
  void drop_expired(time_point now) noexcept;
  void clear() noexcept;
  void drop_descriptors() noexcept;
  void make_room(time_point now, std::size_t more_bytes, bool more_fd);
  std::unordered_map<std::string, file_info, hash, std::equal_to<>> map_;
  std::size_t bytes_ = 0;
  std::size_t fds_ = 0;               // entries holding a descriptor (large files)
  std::size_t max_fds_;               // descriptor_cap()
  time_point swept_{};                // when expired entries were last dropped
  std::optional<file_info> scratch_;  // the uncached answer, if any
  unique_fd root_;                    // the root found anew, if it was (see root())
  time_point root_checked_{};         // when root() last looked at the path
  bool root_looked_ = false;          // ... if ever
};

// Fills `out` from the file `fd` (which it takes), a regular file or a
// directory whose fstat is `first` (open_beneath's). A small file's
// validators come from a later fstat if it changed since, one that
// describes the bytes read. 0, or an errno. A modification time later
// than now is taken as now (RFC 9110 §8.8.2.1).
int load_file_info(unique_fd fd, const struct ::stat& first, std::string_view name, time_point now,
                   file_info& out);

}  // namespace weft::http::detail
