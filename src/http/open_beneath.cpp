#include "open_beneath.hpp"

#include "sys/linux/syscalls.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <iterator>
#include <string>
#include <vector>

namespace weft::http::detail {
namespace {

constexpr int read_flags = O_RDONLY | O_NONBLOCK | O_NOCTTY;
constexpr int max_symlinks = 40;  // the kernel's own limit (ELOOP)

// Remembers, per process, that openat2 is missing or refused, so that an
// old kernel pays for the ENOSYS once.
std::atomic<bool> have_openat2{true};

// Whether an EPERM from openat2 came from a seccomp filter older than
// openat2, which refuses what it does not know with EPERM, not ENOSYS
// (Docker before 20.10; systemd's SystemCallErrorNumber=EPERM), rather than
// from a real denial of one file (an LSM, fanotify). The root tells them
// apart: such a filter refuses openat2 even there, while openat opens it.
// Both looks take handles: a root one may search but not read (0711) is
// served, and a read open of it would fail with EACCES and call the filter
// no filter (found by review).
bool openat2_filtered(int root_dir) {
  auto probe = sys::openat_beneath(root_dir, ".", O_PATH | O_DIRECTORY);
  if (probe.ok()) {
    unique_fd close_it(probe.value);
    return false;
  }
  if (probe.err != EPERM) return false;
  auto plain = sys::openat(root_dir, ".", O_PATH | O_DIRECTORY);
  if (!plain.ok()) return false;
  unique_fd close_it(plain.value);
  return true;
}

// Only regular files and directories are opened for reading; anything else
// is refused before that open, which for a device can act (a watchdog arms,
// a tape rewinds), and `weft files --root /` reaches /dev. The type comes
// from a look that opens nothing (an O_PATH handle), and that handle is
// what is then opened for reading (open_seen).
bool servable(const struct ::stat& st) noexcept {
  return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode);
}

// `fd` opened for reading: the file looked at as `seen`, or -EAGAIN when it
// was replaced in between. Its fstat goes to `out` when asked for.
int if_same(unique_fd fd, const struct ::stat& seen, struct ::stat* out) noexcept {
  struct ::stat st {};
  if (auto s = sys::fstat(fd.get(), st); !s.ok()) return -s.err;
  if (st.st_ino != seen.st_ino || st.st_dev != seen.st_dev) return -EAGAIN;
  if (out) *out = st;
  return fd.release();
}

// What a look found, through its O_PATH `handle` (fstat'ed as `seen`):
// refused unless servable; a directory handed back as the handle itself
// when `directory_handle`; else the handle itself opened for reading.
// Opened again by name, a FIFO or a device renamed over it in between was
// opened before if_same could refuse it (found by review). By name
// (`by_name()`) only where /proc is not mounted.
template <class ByName>
int open_seen(unique_fd handle, const struct ::stat& seen, struct ::stat* out,
              bool directory_handle, ByName by_name) noexcept {
  if (!servable(seen)) return -EACCES;
  if (directory_handle && S_ISDIR(seen.st_mode)) {
    if (out) *out = seen;
    return handle.release();
  }
  auto r = sys::reopen(handle.get(), read_flags);
  if (!r.ok() && r.err == ENOENT) r = by_name();
  return r.ok() ? if_same(unique_fd(r.value), seen, out) : -r.err;
}

// A directory the walk has reached, opened for reading (or as an O_PATH
// handle: open_options::directory_handle), with its fstat in `out` when
// asked for (a directory is servable: no look is needed first).
int open_here(int dir, struct ::stat* out, bool handle) noexcept {
  auto r = sys::openat(dir, ".", handle ? O_PATH | O_DIRECTORY : read_flags);
  if (!r.ok()) return -r.err;
  unique_fd fd(r.value);
  if (out)
    if (auto s = sys::fstat(fd.get(), *out); !s.ok()) return -s.err;
  return fd.release();
}

// Splits `path` and puts its components in front of `pending` (which is
// kept reversed: the next component is at the back). A trailing slash
// stays, as a final ".": it says the name before it is a directory, as the
// kernel reads a link's "file/" (dropped, a file was served through it).
void push_front(std::vector<std::string>& pending, std::string_view path) {
  std::vector<std::string> parts;
  bool trailing_slash = path.size() > 1 && path.back() == '/';
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
    if (!part.empty() && part != ".") parts.emplace_back(part);
  }
  if (trailing_slash && !parts.empty()) parts.emplace_back(".");
  std::move(parts.rbegin(), parts.rend(), std::back_inserter(pending));
}

// The component walk, for one path. Its state: the components still to
// go, the directories entered below the root, and for absolute links the
// root's own path and the places they led to.
class walker {
 public:
  walker(int root_dir, const open_options& o)
      : root_dir_(root_dir), handle_(o.directory_handle), budget_(o.walk_budget) {}
  int run(std::string_view relative, struct ::stat* out);
  bool followed_links() const noexcept { return hops_ > 0; }

 private:
  int here() const { return dirs_.empty() ? root_dir_ : dirs_.back().get(); }
  int open_last(const char* name, struct ::stat* out, bool& link);
  int follow(std::string_view target);
  int follow_absolute(std::string_view target);
  bool strip_root(std::vector<std::string>& target);

  int root_dir_;
  bool handle_;  // a directory reached is handed back as an O_PATH handle
  int* budget_;  // open_options::walk_budget
  std::vector<std::string> pending_;
  std::vector<unique_fd> dirs_;
  int hops_ = 0;
  std::vector<std::string> root_;  // the root's path; read once, when needed
  bool root_read_ = false, root_known_ = false;
  std::vector<std::string> led_to_;  // where absolute links led: a repeat is a loop
};

int walker::run(std::string_view relative, struct ::stat* out) {
  push_front(pending_, relative);
  if (pending_.empty()) return open_here(root_dir_, out, handle_);
  while (!pending_.empty()) {
    // A step costs a few calls at most; a link's target may hold hundreds.
    if (budget_ && --*budget_ < 0) return -ELOOP;
    std::string name = std::move(pending_.back());
    pending_.pop_back();
    if (name == "..") {
      if (dirs_.empty()) return -EXDEV;  // above the root
      dirs_.pop_back();
      continue;
    }
    bool last = pending_.empty();
    if (name == ".") {  // a trailing slash, or a link to "."
      if (last) return open_here(here(), out, handle_);
      continue;
    }
    int failed = -EAGAIN;  // a link at the last look, gone by its reading: replaced
    if (last) {
      bool link = false;
      if (int fd = open_last(name.c_str(), out, link); !link) return fd;
    } else {
      // A directory passed is held as an O_PATH handle: like openat2, the
      // walk then needs only search permission on it, not read.
      auto r = sys::openat(here(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW);
      if (r.ok()) {
        dirs_.emplace_back(r.value);
        continue;
      }
      // ELOOP from O_NOFOLLOW means a symlink; ENOTDIR may be one too
      // (O_DIRECTORY is checked first on some kernels). readlinkat tells.
      if (r.err != ELOOP && r.err != ENOTDIR) return -r.err;
      failed = -r.err;
    }
    char target[4096];
    auto link = sys::readlinkat(here(), name.c_str(), target, sizeof target);
    if (!link.ok()) return failed;
    if (link.value == sizeof target) return -ENAMETOOLONG;
    if (int e = follow(std::string_view(target, link.value)); e != 0) return e;
  }
  // Only ".." components were left: the directory reached is the answer.
  return open_here(here(), out, handle_);
}

// The last component, looked at through an O_PATH handle that is then what
// is opened (open_seen); `link` is set instead when it is a symlink, to be
// followed.
int walker::open_last(const char* name, struct ::stat* out, bool& link) {
  auto h = sys::openat(here(), name, O_PATH | O_NOFOLLOW);
  if (!h.ok()) return -h.err;
  unique_fd handle(h.value);
  struct ::stat seen {};
  if (auto s = sys::fstat(handle.get(), seen); !s.ok()) return -s.err;
  link = S_ISLNK(seen.st_mode);
  if (link) return 0;
  return open_seen(std::move(handle), seen, out, handle_,
                   [&] { return sys::openat(here(), name, read_flags | O_NOFOLLOW); });
}

// Splices a link's target into the path still to go: 0, or -errno.
int walker::follow(std::string_view target) {
  if (++hops_ > max_symlinks) return -ELOOP;
  if (target.empty()) return -ENOENT;
  if (target.front() == '/') {
    if (int e = follow_absolute(target); e != 0) return e;
  } else {
    push_front(pending_, target);
  }
  if (pending_.empty()) pending_.emplace_back(".");  // a link to "." names here
  return 0;
}

// An absolute target is followed only when it names a file beneath the
// root: from the root on, with the root's path taken off its front. It
// leads to the same place wherever it is met, so the same place twice is a
// loop, answered at once: 10,000 links to themselves in one directory
// took its listing 4 s at 40 hops each, its loop blocked (found by review).
int walker::follow_absolute(std::string_view target) {
  std::vector<std::string> rest;
  push_front(rest, target);
  if (!strip_root(rest)) return -EXDEV;
  dirs_.clear();
  std::move(rest.begin(), rest.end(), std::back_inserter(pending_));
  std::string place;
  for (const std::string& part : pending_) (place += part) += '/';
  if (std::find(led_to_.begin(), led_to_.end(), place) != led_to_.end()) return -ELOOP;
  led_to_.push_back(std::move(place));
  return 0;
}

// Takes the root's own path off the front of `target`, an absolute link's
// components (reversed, as `pending`), so that what is left names the
// same file relative to the root; false when the target does not start
// with the root's path. The comparison is by name, against the path the
// kernel has for the root now (/proc/self/fd), never by opening anything
// outside it: a target that reaches the root some other way (through a
// link of its own, or a "..") is refused, which is safe.
bool walker::strip_root(std::vector<std::string>& target) {
  if (!root_read_) {
    root_read_ = true;
    char path[4096];
    auto n = sys::fd_path(root_dir_, path, sizeof path);
    root_known_ = n.ok() && n.value > 0 && n.value < sizeof path && path[0] == '/';
    if (root_known_) {
      push_front(root_, std::string_view(path, n.value));
      std::reverse(root_.begin(), root_.end());  // first component first
    }
  }
  if (!root_known_) return false;
  for (const std::string& part : root_) {
    if (target.empty() || target.back() != part) return false;
    target.pop_back();
  }
  return true;
}

// Whether the path the kernel has for `fd` holds, below the root's own, a
// name that starts with '.'. True too when either path cannot be read, or
// the file's does not lie below the root's: unsure, it is refused.
bool under_a_dot_name(int root_dir, int fd) noexcept {
  char root[4096], file[4096];
  auto r = sys::fd_path(root_dir, root, sizeof root);
  auto f = sys::fd_path(fd, file, sizeof file);
  if (!r.ok() || !f.ok() || r.value >= sizeof root || f.value >= sizeof file) return true;
  std::string_view below(file, f.value), top(root, r.value);
  if (top == "/") top = {};  // --root /: every path lies below it
  if (below.substr(0, top.size()) != top) return true;
  below.remove_prefix(top.size());
  if (!below.empty() && below.front() != '/') return true;  // /srv/www2 for /srv/www
  return below.find("/.") != std::string_view::npos;
}

// One look and open; -EAGAIN when the file was replaced in between.
// `linked`: whether the path led through a symlink, as far as it was
// asked (dotfiles hidden) or the walk followed one.
int open_resolved(int root_dir, std::string_view relative, struct ::stat* st, const open_options& o,
                  bool& linked) {
  const bool watch_links = !o.dotfiles;
  if (o.how == open_strategy::automatic && have_openat2.load(std::memory_order_relaxed)) {
    std::string path(relative.empty() ? std::string_view(".") : relative);
    // Asked without symlinks first: a path through none (most) needs no
    // look at where it led.
    auto look = sys::openat_beneath(root_dir, path.c_str(), O_PATH, watch_links);
    if (!look.ok() && look.err == ELOOP && watch_links) {
      linked = true;
      look = sys::openat_beneath(root_dir, path.c_str(), O_PATH);
    }
    if (look.ok()) {
      unique_fd handle(look.value);
      struct ::stat seen {};
      if (auto s = sys::fstat(handle.get(), seen); !s.ok()) return -s.err;
      return open_seen(std::move(handle), seen, st, o.directory_handle,
                       [&] { return sys::openat_beneath(root_dir, path.c_str(), read_flags); });
    }
    // EXDEV: an escape, or an absolute link, which RESOLVE_BENEATH refuses
    // wherever it points. The walk follows one that points beneath the
    // root and refuses the rest.
    if (look.err != EXDEV && look.err != ENOSYS &&
        !(look.err == EPERM && openat2_filtered(root_dir)))
      return -look.err;
    if (look.err != EXDEV) have_openat2.store(false, std::memory_order_relaxed);
  }
  walker w(root_dir, o);
  int fd = w.run(relative, st);
  linked = linked || w.followed_links();
  return fd;
}

int open_once(int root_dir, std::string_view relative, struct ::stat* st,
              const open_options& o) noexcept {
  try {
    bool linked = false;
    int fd = open_resolved(root_dir, relative, st, o, linked);
    if (fd >= 0 && linked && !o.dotfiles && under_a_dot_name(root_dir, fd)) {
      sys::close(fd);
      return -ENOENT;  // as the dotfile's own name is answered
    }
    return fd;
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
}

}  // namespace

// A file replaced between the look and the open (a deploy's `mv new file`,
// an editor's save) is looked at again: -EAGAIN became a 500, 24 times in
// 12,744 requests while a script replaced one file in a loop (found by
// review). Eight tries: only a file replaced faster than it can be opened
// is still -EAGAIN (a 503) after them.
int open_beneath(int root_dir, std::string_view relative, struct ::stat* st,
                 open_options o) noexcept {
  constexpr int tries = 8;
  int fd = -EAGAIN;
  for (int i = 0; i < tries && fd == -EAGAIN; ++i) fd = open_once(root_dir, relative, st, o);
  return fd;
}

}  // namespace weft::http::detail
