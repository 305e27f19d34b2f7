#pragma once
// Allocation failure on demand, to test what a std::bad_alloc leaves
// behind. The unit-test binary replaces the global operator new and delete
// (alloc_failure.cpp) with malloc and free and a per-thread countdown, which
// costs the other tests one thread-local test per allocation.

namespace weft::test {

// Makes the `n`th allocation through operator new from now on this thread
// throw std::bad_alloc (1: the next one); 0 disarms.
void fail_allocation(int n) noexcept;
// Whether the allocation armed last has failed.
bool allocation_failed() noexcept;

}  // namespace weft::test
