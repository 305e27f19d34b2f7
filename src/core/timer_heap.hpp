#pragma once
// A binary min-heap of timers, indexed so that cancel is O(log n).
// Ties on the deadline are broken by a start sequence number, so equal
// deadlines fire in the order they were started (libuv does the same).
// Owned by one loop; not thread-safe.

#include <weft/core/loop.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace weft::detail {

class timer_heap {
 public:
  // `clock`, when given, is read as a repeating timer re-arms: `now`, the
  // turn's cached time, hides a stall within the turn (see after_firing).
  explicit timer_heap(time_point (*clock)() = nullptr) noexcept : clock_(clock) {}
  timer_id add(time_point deadline, std::function<void()> fn, duration repeat = duration::zero());
  bool cancel(timer_id id) noexcept;
  std::optional<time_point> next_deadline() const noexcept;
  // Runs every timer due at `now` that was started before this call.
  // Callbacks may add and cancel timers, including their own.
  size_t run_expired(time_point now);
  size_t size() const noexcept { return heap_.size(); }
  // Ends every timer, destroying its callback while the heap is whole (a
  // callback's captures may cancel or start timers as they go); for the
  // loop's destructor.
  void clear() noexcept;

 private:
  static constexpr uint32_t not_in_heap = UINT32_MAX;
  time_point (*clock_)() = nullptr;
  struct node {
    time_point deadline;
    uint64_t seq = 0;
    duration repeat{};
    std::function<void()> fn;
    uint32_t gen = 1;
    uint32_t heap_index = not_in_heap;
    bool live = false;
  };

  bool before(uint32_t a, uint32_t b) const noexcept;
  void place(uint32_t pos, uint32_t node_index) noexcept;
  void sift_up(uint32_t pos) noexcept;
  void sift_down(uint32_t pos) noexcept;
  void push(uint32_t node_index);
  void remove_at(uint32_t pos) noexcept;
  void release(uint32_t node_index) noexcept;
  // A fired timer: re-armed if it repeats, else released; left alone if its
  // callback cancelled it.
  void after_firing(uint32_t index, uint32_t gen, std::function<void()>&& fn, time_point now);
  node* find(timer_id id) noexcept;

  std::vector<node> nodes_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> heap_;  // node indices
  // run_expired: timers started during the pass and already due, out of
  // the heap until it ends (index, generation).
  std::vector<std::pair<uint32_t, uint32_t>> held_;
  uint64_t next_seq_ = 0;
};

}  // namespace weft::detail
