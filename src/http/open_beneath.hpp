#pragma once
// open_beneath: opens a relative path strictly inside a root directory.
//
// With openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) the kernel does it:
// symlinks are followed while they stay beneath the root, and an escape
// ("..", an outward symlink) fails with EXDEV. It refuses an absolute
// symlink wherever it points, so on EXDEV the walk below decides: an
// absolute target that starts with the root's own path (as the kernel has
// it now) is followed from the root. Where openat2 is
// missing (ENOSYS, kernels before 5.6) or refused by a seccomp filter that
// predates it (EPERM, even for the root itself), the fallback walks the path one
// component at a time with O_NOFOLLOW, relative to the directory reached so
// far, and applies the same rule by hand: a symlink is read and its target
// spliced into the remaining path; an absolute target elsewhere, or a ".."
// above the root, fails with EXDEV; more than 40 symlinks fail with ELOOP. So both
// ways serve the same files: symlinks inside the root work, and nothing
// outside it is ever opened. A path string is never built and open()ed.
//
// Dotfiles hidden (`dotfiles` false), a file reached through a symlink is
// refused (-ENOENT) when the path the kernel has for it, below the root's,
// holds a name that starts with '.': hiding went by the name asked for, so
// a link named "settings" served .env, and one named "repo" all of .git
// (found by review). The paths are read (/proc/self/fd) only for a path
// through a symlink; without /proc such a path is refused.
//
// Thread-safety: a free function over fds; safe from any thread.

#include <weft/core/unique_fd.hpp>

#include <sys/stat.h>

#include <string_view>

namespace weft::http::detail {

enum class open_strategy { automatic, walk };

struct open_options {
  open_strategy how = open_strategy::automatic;
  bool dotfiles = true;  // false: refuse a link that leads to one (above)
  // A directory is handed back as an O_PATH handle, for its fstat: a
  // directory one may search but not read (0711) then still serves its
  // index.html. Its listing needs it opened for reading (false).
  bool directory_handle = false;
  // Steps (components) the walk may still take, shared by several opens
  // (a listing's); spent, the open is ELOOP. Null: no bound but the 40
  // links per path. openat2's own resolution is the kernel's, bounded
  // there, and costs none.
  int* walk_budget = nullptr;
};

// Opens `relative` ("" or "." is the root itself; no leading '/') beneath
// `root_dir` for reading (O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC).
// Only a regular file or a directory: anything else (a device, a FIFO, a
// socket) is -EACCES, found without opening it. Returns the fd, or -errno.
// `st`, when given, receives the opened file's fstat: it is taken anyway, to
// check that the file opened is the one looked at, so callers need not
// take it again. A file replaced in between is looked at again, up to 8
// times; -EAGAIN after them.
int open_beneath(int root_dir, std::string_view relative, struct ::stat* st = nullptr,
                 open_options o = {}) noexcept;

}  // namespace weft::http::detail
