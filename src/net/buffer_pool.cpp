#include <weft/net/buffer.hpp>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

namespace weft::detail {
namespace {
// Enough for every connection of a busy loop to hold a block at once
// without going back to malloc; beyond it, blocks are freed.
constexpr std::size_t max_pooled = 1024;

// The free blocks, linked through their own first bytes. A plain
// thread_local (trivially destructible) is reached with one instruction; a
// std::vector one went through the TLS wrapper and its init guard on each
// use, and a keep-alive request takes a block and gives it back twice (its
// input and its output). Callgrind put the pool's share of such a request
// at ~30 fewer instructions this way.
struct free_list {
  char* head = nullptr;
  std::size_t count = 0;
  bool reaper_armed = false;
  bool closed = false;  // the thread is ending: free blocks at once
};
thread_local free_list pool;

char* next_of(char* block) noexcept {
  char* next;
  std::memcpy(&next, block, sizeof next);
  return next;
}

// Frees the thread's pooled blocks when the thread ends. Made the first
// time a block is pooled, so that a thread which never pools pays nothing.
struct reaper {
  ~reaper() {
    while (pool.head != nullptr) {
      char* b = pool.head;
      pool.head = next_of(b);
      delete[] b;
    }
    pool.count = 0;
    pool.closed = true;  // a block released later, by a later destructor, is freed
  }
};
thread_local reaper pool_reaper;
}  // namespace

char* pool_acquire() {
  if (char* b = pool.head) {
    pool.head = next_of(b);
    --pool.count;
    return b;
  }
  return new char[pool_block_size];
}

void pool_release(char* block) noexcept {
  if (pool.count >= max_pooled || pool.closed) {
    delete[] block;
    return;
  }
  if (!pool.reaper_armed) {
    pool.reaper_armed = true;
    static_cast<void>(&pool_reaper);  // first use: registers its destructor
  }
  std::memcpy(block, &pool.head, sizeof pool.head);
  pool.head = block;
  ++pool.count;
}

std::size_t pool_free_blocks() noexcept {
  return pool.count;
}

// reserve's cases that are not inline: an empty buffer that needs more
// than a pooled block, and a buffer without room for `min` more bytes.
void io_buffer::grow(std::size_t min, std::size_t limit) {
  // The sizes are 32-bit: more would wrap and lose bytes without a word
  // (4 GiB + 16 bytes buffered as 16).
  if (min > max_capacity - size())
    throw std::length_error("weft: a stream buffer holds at most 2 GiB");
  if (data_ == nullptr) {  // min > pool_block_size
    data_ = new char[min];
    cap_ = static_cast<uint32_t>(min);
    return;
  }
  // A few bytes held apart while waiting (shrink): back into a pooled block.
  if (cap_ < pool_block_size && size() + min <= pool_block_size) {
    char* block = pool_acquire();
    std::memcpy(block, data(), size());
    uint32_t n = end_ - begin_;
    free_block();
    data_ = block;
    end_ = n;
    cap_ = static_cast<uint32_t>(pool_block_size);
    return;
  }
  if (begin_ > 0) {  // compact first: cheaper than growing
    std::memmove(data_, data_ + begin_, size());
    end_ -= begin_;
    begin_ = 0;
    if (writable() >= min) return;
  }
  std::size_t want = std::max(std::size_t{cap_} * 2, size() + min);
  want = std::max(std::min({want, limit, max_capacity}), size() + min);
  char* grown = new char[want];
  std::memcpy(grown, data_, size());
  uint32_t n = end_;
  free_block();
  data_ = grown;
  end_ = n;
  cap_ = static_cast<uint32_t>(want);
}

void io_buffer::settle_for_wait() noexcept {
  std::size_t n = size();
  if (n == 0) return free_block();
  // A grown buffer (a long line or head, read) holding what came after it
  // moves too: it kept its whole capacity, 64 KiB a connection through a
  // head or idle timeout (found by review). Past a pooled block's worth, a
  // long line still coming in, it stays.
  const bool grown = cap_ > pool_block_size;
  if (n > (grown ? pool_block_size : small_held) || cap_ < pool_block_size) return;
  char* home = nullptr;
  std::size_t cap = n;
  if (n <= small_held) {
    home = new (std::nothrow) char[n];
  } else {
    try {
      home = pool_acquire();
      cap = pool_block_size;
    } catch (const std::bad_alloc&) {
    }
  }
  if (home != nullptr) move_to(home, cap);  // else keep the block it has: no worse than before
}

void io_buffer::move_to_own_size() noexcept {
  std::size_t n = size();
  // A block of exactly a pooled block's size would go back to the pool
  // when freed (free_block): that size keeps the block it has.
  if (n == 0 || n == pool_block_size) return release_if_empty();
  if (char* home = new (std::nothrow) char[n]) move_to(home, n);
}

void io_buffer::move_to(char* home, std::size_t cap) noexcept {
  std::size_t n = size();
  std::memcpy(home, data(), n);
  free_block();
  data_ = home;
  begin_ = 0;
  end_ = static_cast<uint32_t>(n);
  cap_ = static_cast<uint32_t>(cap);
}

void io_buffer::append(std::string_view bytes) {
  if (bytes.empty()) return;
  reserve(bytes.size(), SIZE_MAX);
  std::memcpy(write_ptr(), bytes.data(), bytes.size());
  commit(bytes.size());
}

}  // namespace weft::detail
