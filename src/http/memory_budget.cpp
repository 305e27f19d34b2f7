#include <weft/http/memory_budget.hpp>

namespace weft::http {

bool memory_budget::try_take(std::uint64_t n) noexcept {
  std::uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (n > size_ || used > size_ - n) return false;
  } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
  return true;
}

memory_budget& memory_budget::process_default() noexcept {
  static memory_budget budget(default_body_budget);
  return budget;
}

}  // namespace weft::http
