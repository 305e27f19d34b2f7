#pragma once
// memory_budget: a count of bytes that many holders take from and give
// back, bounded by a size fixed when it is made. The HTTP servers' request
// bodies read whole take from one (server_options::body_budget) as they
// arrive, so what N clients can make a process hold is the budget, not N
// times the body limit: 100 clients sending bodies to weft inspect held
// 864 MB, 3,000 of them would take 24 GB, before there was one.
//
// Threading: any thread. Servers on several loops may share one (its count
// is atomic); it must outlive every server that points at it. A lease
// belongs to one thread, the one that takes through it.

#include <atomic>
#include <cstdint>
#include <utility>

namespace weft::http {

class memory_budget {
 public:
  explicit memory_budget(std::uint64_t size) noexcept : size_(size) {}
  memory_budget(const memory_budget&) = delete;
  memory_budget& operator=(const memory_budget&) = delete;

  // Takes n bytes if they fit in what is left; takes nothing and returns
  // false if they do not.
  bool try_take(std::uint64_t n) noexcept;
  // Gives back n bytes taken before.
  void give_back(std::uint64_t n) noexcept { used_.fetch_sub(n, std::memory_order_relaxed); }
  std::uint64_t in_use() const noexcept { return used_.load(std::memory_order_relaxed); }
  std::uint64_t size() const noexcept { return size_; }

  // The process's own, of 1 GiB, which server_options points at unless
  // told otherwise, so that every server keeping the default shares it.
  static memory_budget& process_default() noexcept;

  // What one holder has taken, given back when it is destroyed: one
  // request's body. Without a budget it takes without counting.
  class lease {
   public:
    lease() noexcept = default;
    explicit lease(memory_budget* from) noexcept : from_(from) {}
    lease(lease&& o) noexcept
        : from_(std::exchange(o.from_, nullptr)), held_(std::exchange(o.held_, 0)) {}
    lease& operator=(lease&& o) noexcept {
      if (this != &o) {
        release();
        from_ = std::exchange(o.from_, nullptr);
        held_ = std::exchange(o.held_, 0);
      }
      return *this;
    }
    ~lease() { release(); }

    // n more bytes for this holder, if the budget has them.
    bool take(std::uint64_t n) noexcept {
      if (from_ != nullptr && !from_->try_take(n)) return false;
      held_ += n;
      return true;
    }
    std::uint64_t held() const noexcept { return held_; }

   private:
    void release() noexcept {
      if (from_ != nullptr && held_ != 0) from_->give_back(held_);
      held_ = 0;
    }
    memory_budget* from_ = nullptr;
    std::uint64_t held_ = 0;
  };

 private:
  const std::uint64_t size_;
  std::atomic<std::uint64_t> used_{0};
};

// The size of memory_budget::process_default() and `weft`'s
// --max-body-memory default: 128 bodies at the default 8 MiB limit.
inline constexpr std::uint64_t default_body_budget = std::uint64_t{1} << 30;

}  // namespace weft::http
