#pragma once
// A request body the server reads whole, as it arrives. Up to
// `mapped_from` bytes it is an ordinary string; past that it lives in
// pages mapped for it, which grow by remapping (nothing is copied, and the
// pages past what was written are never touched, so doubling costs
// address space, not memory) and go back to the kernel whole with it.
//
// Why not a string: 32 clients sending 8 MiB bodies, all held within a
// 256 MiB --max-body-memory, made weft inspect's RSS grow by 336 MB, and
// 200 against the 1 GiB default by 1.85 GB (bench/memory/unread_answers.py
// --load inspect-bodies): each string's doubling freed blocks that glibc
// kept (its mmap threshold rises to the largest block freed, so later
// blocks come from its heap) and that other bodies could not reuse whole.
// The budget bounded the bytes, not the memory. In pages: see
// test_http_inspect.InspectBodyPages.
//
// In small pages only (sys::map_pages): where transparent huge pages are
// `always`, 100 bodies of which 2.2 MiB had come held 4,158 KiB each, a
// huge page faulted in past the bytes written, and 2,392 KiB since, as with
// THP `madvise` (--load inspect-part-bodies; body_bytes' unit test checks
// the mapping's flag).
//
// Belongs to its request's connection: one loop, one thread.

#include <cstddef>
#include <string>
#include <string_view>

namespace weft::http::detail {

class body_bytes {
 public:
  // glibc's own mmap threshold before it moves (128 KiB): a smaller body
  // costs no syscall.
  static constexpr std::size_t mapped_from = std::size_t{128} << 10;

  body_bytes() = default;
  body_bytes(const body_bytes&) = delete;
  body_bytes& operator=(const body_bytes&) = delete;
  ~body_bytes() { clear(); }

  // Throws std::bad_alloc when no memory can be had.
  void append(std::string_view piece);
  std::string_view view() const noexcept {
    return pages_ ? std::string_view(pages_, size_) : std::string_view(small_);
  }
  bool mapped() const noexcept { return pages_ != nullptr; }
  // Gives the memory back: a string's to the allocator, pages to the kernel.
  void clear() noexcept;

 private:
  void grow(std::size_t need);

  std::string small_;
  char* pages_ = nullptr;
  std::size_t size_ = 0;      // in pages_
  std::size_t capacity_ = 0;  // of pages_, a whole number of 64 KiB
};

}  // namespace weft::http::detail
