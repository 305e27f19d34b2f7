#include "alloc_failure.hpp"

#include <cstdlib>
#include <new>

namespace {
thread_local int countdown = 0;
thread_local bool failed = false;
}  // namespace

namespace weft::test {
void fail_allocation(int n) noexcept {
  countdown = n;
  failed = false;
}
bool allocation_failed() noexcept {
  return failed;
}
}  // namespace weft::test

// The plain forms only: the array, aligned and nothrow forms keep their
// defaults, which pair among themselves (and route through these where
// libstdc++ builds them on the plain ones).
void* operator new(std::size_t size) {
  if (countdown > 0 && --countdown == 0) {
    failed = true;
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
