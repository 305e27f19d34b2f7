#pragma once
// unique_fd: sole owner of a file descriptor; closes it on destruction.
// Thread-safety: a plain value type; use from one thread at a time.

#include <utility>

namespace weft {

class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) close_now();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  // Inline test: most owners (an HTTP response without a file) hold none.
  ~unique_fd() {
    if (fd_ >= 0) close_now();
  }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;

 private:
  void close_now() noexcept;
  int fd_ = -1;
};

}  // namespace weft
