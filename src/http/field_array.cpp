#include "http/field_array.hpp"

namespace weft::http::detail {

constinit thread_local field_free_lists field_pool;

namespace {
// Frees the thread's pooled arrays when the thread ends (LeakSanitizer
// fails the ASan run otherwise). Registered by the first array pooled, so
// that a thread which never pools pays nothing.
struct reaper {
  ~reaper() {
    for (int list : {0, 1}) {
      while (header_field* a = field_pool.head[list]) {
        field_pool.head[list] = next_of(a);
        delete[] a;
      }
      field_pool.count[list] = 0;
    }
    field_pool.closed = true;  // an array released later, by a later destructor, is freed
  }
};
thread_local reaper pool_reaper;
}  // namespace

void field_array::take_large() {
  size_ = max_storage;
  if (header_field* a = field_pool.head[1]) {
    field_pool.head[1] = next_of(a);
    --field_pool.count[1];
    p_ = a;
  } else {
    p_ = new header_field[max_storage];
  }
}

void field_array::put_back_slowly() noexcept {
  field_free_lists& pool = field_pool;
  if (!pool.reaper_armed && !pool.closed) {
    pool.reaper_armed = true;
    static_cast<void>(&pool_reaper);  // first use: registers its destructor
  }
  const int list = size_ == max_storage ? 1 : 0;
  if (pool.count[list] < max_pooled && pool.reaper_armed && !pool.closed) {
    link(p_, pool.head[list]);
    pool.head[list] = p_;
    ++pool.count[list];
  } else {
    delete[] p_;
  }
  p_ = nullptr;
}

bool field_array::grow(std::size_t limit) {
  if (size_ >= std::min(limit, max_storage)) return false;
  release();
  take_large();
  return true;
}

}  // namespace weft::http::detail
