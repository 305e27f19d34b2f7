#pragma once
// field_array: where a connection's parser puts the header fields of the
// request in progress, from a per-thread pool, held only while a request is
// in progress (never while the connection is idle).
//
// It starts small: first_fields entries (1 KiB), which the field lines of a
// browser's request fit (Chrome and Firefox send 10 to 20). A request with
// more fills it, and the parser answers 431; the server then grows the array
// to the configured limit (at most max_storage, 8 KiB) and parses the head
// again, once (grow). Each connection with a request in progress, a long
// poll or a slow client's unfinished head, held the whole 8 KiB before:
// 500 slow heads held 4 MB of field arrays in weft hello (massif).
//
// Threading: the pool is per thread; an array is taken and given back on
// the thread of the connection's loop.

#include <weft/http/header_field.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>

namespace weft::http::detail {

// The free arrays of a thread, one list per size, linked through their own
// first bytes (a header_field is two views: trivially copyable). Constant-
// initialized plain data, so that the inline paths below reach it with one
// instruction; its reaper (field_array.cpp) frees them when the thread ends.
struct field_free_lists {
  header_field* head[2] = {nullptr, nullptr};  // small, large
  std::size_t count[2] = {0, 0};
  bool reaper_armed = false;  // the reaper is registered: pooling may begin
  bool closed = false;        // the thread is ending: free arrays at once
};
extern constinit thread_local field_free_lists field_pool;

// A pooled array's link to the next, in its first bytes: the bytes of a
// pointer, so sizeof a pointer is meant (which clang-tidy doubts).
inline header_field* next_of(header_field* a) noexcept {
  header_field* next;
  std::memcpy(&next, static_cast<void*>(a), sizeof next);  // NOLINT(bugprone-sizeof-expression)
  return next;
}
inline void link(header_field* a, header_field* next) noexcept {
  std::memcpy(static_cast<void*>(a), &next, sizeof next);  // NOLINT(bugprone-sizeof-expression)
}

class field_array {
 public:
  static constexpr std::size_t first_fields = 32;
  static constexpr std::size_t max_storage = 256;  // the most --max-headers allows
  static constexpr std::size_t max_pooled = 1024;  // arrays per list

  field_array() = default;
  field_array(const field_array&) = delete;
  field_array& operator=(const field_array&) = delete;
  ~field_array() { release(); }

  // Storage for at most `limit` fields: a small array until grow().
  std::span<header_field> get(std::size_t limit) {
    if (!p_) take_small();
    return {p_, std::min(limit, size_)};
  }
  // After a 431 from a small array: true, with room for the whole limit,
  // when parsing again may give another answer.
  bool grow(std::size_t limit);
  // Inline, as get(): serve() calls both once per keep-alive request, and
  // each call of its own cost ~15 instructions (bench/http/instructions.sh).
  [[gnu::always_inline]] void release() noexcept {
    if (!p_) return;
    const int list = size_ == max_storage ? 1 : 0;
    field_free_lists& pool = field_pool;
    if (pool.count[list] < max_pooled && pool.reaper_armed && !pool.closed) [[likely]] {
      link(p_, pool.head[list]);
      pool.head[list] = p_;
      ++pool.count[list];
      p_ = nullptr;
    } else {
      put_back_slowly();
    }
  }

 private:
  void take_small() {
    size_ = first_fields;
    field_free_lists& pool = field_pool;
    if (header_field* a = pool.head[0]) [[likely]] {
      pool.head[0] = next_of(a);
      --pool.count[0];
      p_ = a;
    } else {
      p_ = new header_field[first_fields];
    }
  }
  void take_large();
  void put_back_slowly() noexcept;  // the first one (arms the reaper), or one not pooled

  header_field* p_ = nullptr;  // owned: from the pool, or new[] of size_
  std::size_t size_ = 0;
};

}  // namespace weft::http::detail
