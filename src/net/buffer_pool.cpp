#include <weft/net/buffer.hpp>

#include <algorithm>
#include <new>
#include <vector>

namespace weft::detail {
namespace {
// Enough for every connection of a busy loop to hold a block at once
// without going back to malloc; beyond it, blocks are freed.
constexpr std::size_t max_pooled = 1024;

struct pool {
  std::vector<char*> free;
  ~pool() {
    for (char* b : free) delete[] b;
  }
};
thread_local pool local_pool;
}  // namespace

char* pool_acquire() {
  if (!local_pool.free.empty()) {
    char* b = local_pool.free.back();
    local_pool.free.pop_back();
    return b;
  }
  return new char[pool_block_size];
}

void pool_release(char* block) noexcept {
  if (local_pool.free.size() < max_pooled) {
    try {
      local_pool.free.push_back(block);
      return;
    } catch (const std::bad_alloc&) {
    }
  }
  delete[] block;
}

std::size_t pool_free_blocks() noexcept {
  return local_pool.free.size();
}

void io_buffer::free_block() noexcept {
  if (data_ == nullptr) return;
  if (cap_ == pool_block_size)
    pool_release(data_);
  else
    delete[] data_;
  data_ = nullptr;
  begin_ = end_ = cap_ = 0;
}

void io_buffer::reserve(std::size_t min, std::size_t limit) {
  if (data_ == nullptr) {
    std::size_t want = std::max(min, std::min(pool_block_size, limit));
    data_ = want <= pool_block_size ? pool_acquire() : new char[want];
    cap_ = static_cast<uint32_t>(want <= pool_block_size ? pool_block_size : want);
    return;
  }
  if (writable() >= min) return;
  if (begin_ > 0) {  // compact first: cheaper than growing
    std::memmove(data_, data_ + begin_, size());
    end_ -= begin_;
    begin_ = 0;
    if (writable() >= min) return;
  }
  std::size_t want = std::max(std::size_t{cap_} * 2, size() + min);
  want = std::max(std::min(want, limit), size() + min);
  char* grown = new char[want];
  std::memcpy(grown, data_, size());
  uint32_t n = end_;
  free_block();
  data_ = grown;
  end_ = n;
  cap_ = static_cast<uint32_t>(want);
}

void io_buffer::append(std::string_view bytes) {
  if (bytes.empty()) return;
  reserve(bytes.size(), SIZE_MAX);
  std::memcpy(write_ptr(), bytes.data(), bytes.size());
  commit(bytes.size());
}

}  // namespace weft::detail
