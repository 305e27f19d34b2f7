#pragma once
// io_buffer: the bytes a stream holds in one direction, in a contiguous
// block borrowed from a per-thread pool. An empty buffer gives its block
// back, so an idle connection holds no buffer at all (DESIGN-NOTES §2).
//
// Threading: the pool is per thread, and each loop runs on its own thread,
// so a buffer must be used and released on the thread of its loop.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

namespace weft::detail {

// The pooled block size. 16 KiB holds 256 pipelined 64-byte lines; longer
// lines grow the buffer past the pool (up to the caller's limit).
inline constexpr std::size_t pool_block_size = std::size_t{16} * 1024;

char* pool_acquire();
void pool_release(char* block) noexcept;
std::size_t pool_free_blocks() noexcept;  // this thread's pool

class io_buffer {
 public:
  io_buffer() noexcept = default;
  io_buffer(io_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        begin_(std::exchange(o.begin_, 0)),
        end_(std::exchange(o.end_, 0)),
        cap_(std::exchange(o.cap_, 0)) {}
  io_buffer& operator=(io_buffer&& o) noexcept {
    if (this != &o) {
      free_block();
      data_ = std::exchange(o.data_, nullptr);
      begin_ = std::exchange(o.begin_, 0);
      end_ = std::exchange(o.end_, 0);
      cap_ = std::exchange(o.cap_, 0);
    }
    return *this;
  }
  io_buffer(const io_buffer&) = delete;
  io_buffer& operator=(const io_buffer&) = delete;
  ~io_buffer() { free_block(); }

  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }
  bool has_block() const noexcept { return data_ != nullptr; }
  std::size_t capacity() const noexcept { return cap_; }
  const char* data() const noexcept { return data_ + begin_; }
  std::string_view view() const noexcept { return {data(), size()}; }

  char* write_ptr() noexcept { return data_ + end_; }
  std::size_t writable() const noexcept { return cap_ - end_; }
  void commit(std::size_t n) noexcept { end_ += static_cast<uint32_t>(n); }
  // Keeps the first `n` bytes (n <= size()) and drops the rest.
  void truncate(std::size_t n) noexcept {
    end_ = begin_ + static_cast<uint32_t>(n);
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void consume(std::size_t n) noexcept {
    begin_ += static_cast<uint32_t>(n);
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Makes room for at least `min` more bytes, compacting or growing; the
  // buffer never grows past `limit` bytes of capacity. Inline for the
  // usual cases, a pooled block for an empty buffer or room already there:
  // a keep-alive request takes both its buffers this way, and the call
  // with its register saves cost ~30 instructions each
  // (DEPTH=1 bench/http/instructions.sh).
  void reserve(std::size_t min, std::size_t limit) {
    if (data_ == nullptr && min <= pool_block_size) {
      data_ = pool_acquire();
      cap_ = static_cast<uint32_t>(pool_block_size);
      return;
    }
    if (data_ != nullptr && writable() >= min) return;
    grow(min, limit);
  }
  void append(std::string_view bytes);
  // The most a buffer holds: its sizes are 32-bit, and half leaves room.
  // Asking for more throws std::length_error.
  static constexpr std::size_t max_capacity = UINT32_MAX / 2;
  // Gives the block back to the pool if nothing is left in it.
  void release_if_empty() noexcept {
    if (empty() && data_ != nullptr) free_block();
  }
  // Before a wait for more input: no block if empty (as above), and a few
  // bytes (at most small_held: a slow client's partial head or line) move
  // to a block of their own size, so the pooled one goes back. Each
  // connection of a slowloris, a byte in at a time, held 16 KiB; nginx's
  // first head buffer is 1 KiB. The next read takes a pooled block again
  // (grow), so a head that is merely split across reads is read as before;
  // a first part over small_held (a full segment) keeps its block.
  static constexpr std::size_t small_held = 512;
  void shrink_for_wait() noexcept {
    if (data_ != nullptr) settle_for_wait();
  }
  // Before a wait for room to send: what is left moves to a block of its
  // own size when the block it is in is more than twice that. A batch of
  // answers grew the output to 64 KiB or more, a full socket took all but
  // a few KiB of it, and a client that had stopped reading held the whole
  // block until the write timeout: 70-80 KiB a connection under `weft
  // hello` (bench/memory/unread_answers.py --load hello-pipelined).
  void settle_output() noexcept {
    if (data_ != nullptr && cap_ >= pool_block_size && size() <= cap_ / 2) move_to_own_size();
  }

 private:
  void grow(std::size_t min, std::size_t limit);  // reserve's other cases, out of line
  // shrink_for_wait's work, out of line: inline, its two calls cost a
  // keep-alive request's waits ~10 instructions of register saves
  // (bench/http/instructions.sh).
  void settle_for_wait() noexcept;
  void move_to_own_size() noexcept;  // settle_output's work
  // Copies what it holds to `home` (of `cap` bytes, at least size()), which
  // it holds from then on, and frees its block.
  void move_to(char* home, std::size_t cap) noexcept;
  void free_block() noexcept {
    if (data_ == nullptr) return;
    if (cap_ == pool_block_size)
      pool_release(data_);
    else
      delete[] data_;
    data_ = nullptr;
    begin_ = end_ = cap_ = 0;
  }

  char* data_ = nullptr;
  uint32_t begin_ = 0;
  uint32_t end_ = 0;
  uint32_t cap_ = 0;
};

}  // namespace weft::detail
