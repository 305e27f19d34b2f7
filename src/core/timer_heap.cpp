#include "core/timer_heap.hpp"

#include <algorithm>

namespace weft::detail {

// A timer_id packs the node's generation (high half) and index + 1 (low
// half), so an id of a fired or cancelled timer never matches a reused node.
namespace {
timer_id make_id(uint32_t index, uint32_t gen) {
  return (uint64_t{gen} << 32) | (index + 1);
}
}  // namespace

timer_id timer_heap::add(time_point deadline, std::function<void()> fn, duration repeat) {
  // Room first, so that nothing after it throws: a heap that could not
  // grow left the node live in neither the heap nor the free list, and the
  // free list is never grown by release(), which is noexcept (cancel).
  if (heap_.size() == heap_.capacity()) heap_.reserve(std::max<std::size_t>(16, heap_.size() * 2));
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    if (nodes_.size() == nodes_.capacity())
      nodes_.reserve(std::max<std::size_t>(16, nodes_.size() * 2));
    // Room for every node in each list a node may be in, so that nothing
    // noexcept allocates: a pass puts back the timers it held aside, and
    // a repeating one, out of the heap while it ran, in a destructor, where
    // a std::bad_alloc once ended the process (found by review).
    if (free_.capacity() < nodes_.capacity()) free_.reserve(nodes_.capacity());
    if (heap_.capacity() < nodes_.capacity()) heap_.reserve(nodes_.capacity());
    if (held_.capacity() < nodes_.capacity()) held_.reserve(nodes_.capacity());
    index = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  node& n = nodes_[index];
  n.deadline = deadline;
  n.seq = next_seq_++;
  n.repeat = repeat;
  n.fn = std::move(fn);
  n.live = true;
  push(index);
  return make_id(index, n.gen);
}

timer_heap::node* timer_heap::find(timer_id id) noexcept {
  uint32_t index = static_cast<uint32_t>(id & 0xffffffffu) - 1;
  uint32_t gen = static_cast<uint32_t>(id >> 32);
  if (id == no_timer || index >= nodes_.size()) return nullptr;
  node& n = nodes_[index];
  return n.live && n.gen == gen ? &n : nullptr;
}

bool timer_heap::cancel(timer_id id) noexcept {
  node* n = find(id);
  if (n == nullptr) return false;
  uint32_t index = static_cast<uint32_t>(n - nodes_.data());
  if (n->heap_index != not_in_heap) remove_at(n->heap_index);
  release(index);  // a timer cancelled inside its own callback ends here too
  return true;
}

std::optional<time_point> timer_heap::next_deadline() const noexcept {
  if (heap_.empty()) return std::nullopt;
  return nodes_[heap_[0]].deadline;
}

size_t timer_heap::run_expired(time_point now) {
  const uint64_t seq_limit = next_seq_;
  size_t fired = 0;
  // Timers started during the pass wait for the next one. One started in
  // the past comes first in the heap: it is held aside, not left to end the
  // pass, which held back timers due and started before it (found by
  // review). Put back on the way out, whichever way that is.
  struct put_back {
    timer_heap& h;
    ~put_back() {
      for (auto [index, gen] : h.held_)
        if (h.nodes_[index].live && h.nodes_[index].gen == gen) h.push(index);
      h.held_.clear();
    }
  } restore{*this};
  while (!heap_.empty()) {
    uint32_t index = heap_[0];
    if (nodes_[index].deadline > now) break;
    remove_at(0);
    if (nodes_[index].seq >= seq_limit) {
      held_.emplace_back(index, nodes_[index].gen);
      continue;
    }
    const uint32_t gen = nodes_[index].gen;
    // Move the callback out: it may add timers, which can reallocate nodes_.
    std::function<void()> fn = std::move(nodes_[index].fn);
    // A one-shot timer has fired now: cancel() from its callback is false.
    if (nodes_[index].repeat <= duration::zero()) release(index);
    ++fired;
    try {
      fn();
    } catch (...) {
      after_firing(index, gen, std::move(fn), now);  // the exception leaves the turn
      throw;
    }
    after_firing(index, gen, std::move(fn), now);
  }
  return fired;
}

void timer_heap::after_firing(uint32_t index, uint32_t gen, std::function<void()>&& fn,
                              time_point now) {
  node& n = nodes_[index];
  if (!n.live || n.gen != gen) return;  // cancelled (and maybe reused) inside fn
  if (n.repeat > duration::zero()) {
    // Next deadline keeps the period. A loop that fell a period or more
    // behind (a stall) skips ahead to the period's next beat after now:
    // re-armed due at once, the timer fired twice back to back. `now` is
    // read again, not the turn's: a stall in this turn (this callback, a
    // handler before it) left the turn's time behind (both found by
    // review). One read per re-arm.
    if (clock_ != nullptr) now = std::max(now, clock_());
    time_point next = saturating_add(n.deadline, n.repeat);
    if (next <= now)
      next = saturating_add(n.deadline, n.repeat * ((now - n.deadline) / n.repeat + 1));
    n.deadline = next;
    n.seq = next_seq_++;
    n.fn = std::move(fn);
    push(index);
  } else {
    release(index);
  }
}

bool timer_heap::before(uint32_t a, uint32_t b) const noexcept {
  const node& x = nodes_[a];
  const node& y = nodes_[b];
  return x.deadline < y.deadline || (x.deadline == y.deadline && x.seq < y.seq);
}

void timer_heap::place(uint32_t pos, uint32_t node_index) noexcept {
  heap_[pos] = node_index;
  nodes_[node_index].heap_index = pos;
}

void timer_heap::sift_up(uint32_t pos) noexcept {
  uint32_t moving = heap_[pos];
  while (pos > 0) {
    uint32_t parent = (pos - 1) / 2;
    if (!before(moving, heap_[parent])) break;
    place(pos, heap_[parent]);
    pos = parent;
  }
  place(pos, moving);
}

void timer_heap::sift_down(uint32_t pos) noexcept {
  const uint32_t size = static_cast<uint32_t>(heap_.size());
  uint32_t moving = heap_[pos];
  for (;;) {
    uint32_t child = 2 * pos + 1;
    if (child >= size) break;
    if (child + 1 < size && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], moving)) break;
    place(pos, heap_[child]);
    pos = child;
  }
  place(pos, moving);
}

void timer_heap::push(uint32_t node_index) {
  heap_.push_back(node_index);
  sift_up(static_cast<uint32_t>(heap_.size() - 1));
}

void timer_heap::remove_at(uint32_t pos) noexcept {
  uint32_t removed = heap_[pos];
  uint32_t last = heap_.back();
  heap_.pop_back();
  nodes_[removed].heap_index = not_in_heap;
  if (pos == heap_.size()) return;
  place(pos, last);
  sift_up(pos);
  sift_down(nodes_[last].heap_index);
}

void timer_heap::release(uint32_t node_index) noexcept {
  node& n = nodes_[node_index];
  // The callback goes last, once the node is free: its captures'
  // destructors may start and cancel timers, and a start may move the
  // nodes (a reference held across it wrote to freed memory, found by
  // review).
  std::function<void()> fn = std::move(n.fn);
  n.fn = nullptr;
  n.live = false;
  ++n.gen;
  if (n.gen == 0) n.gen = 1;
  free_.push_back(node_index);  // within the capacity add() reserved
}

void timer_heap::clear() noexcept {
  // Callbacks' destructors may start timers: a pass takes those too.
  for (bool any = true; any;) {
    any = false;
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].live) continue;
      any = true;
      if (nodes_[i].heap_index != not_in_heap) remove_at(nodes_[i].heap_index);
      release(i);
    }
  }
  held_.clear();
}

}  // namespace weft::detail
