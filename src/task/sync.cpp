#include <weft/task/sync.hpp>

#include <cstdint>
#include <utility>

#include "core/intrusive_list.hpp"

namespace weft {

bool semaphore::try_acquire() noexcept {
  // Queued waiters come first, even if a permit is free this instant.
  if (count_ == 0 || !waiters_.empty()) return false;
  --count_;
  return true;
}

// Time grows with the waiters served, not with n: counted down one by one,
// a "release everything" (SIZE_MAX) never returned. The count saturates.
void semaphore::release(std::size_t n) noexcept {
  for (; n > 0; --n) {
    auto* w = waiters_.pop_front();
    if (w == nullptr) break;
    // The permit is handed over now, so a cancellation arriving before the
    // waiter runs cannot lose it: finish() makes the wait uncancellable.
    w->wake_later();
  }
  count_ = n > SIZE_MAX - count_ ? SIZE_MAX : count_ + n;
}

void semaphore::acquire_awaiter::on_cancel(detail::cancel_hook* self) noexcept {
  auto* a = static_cast<acquire_awaiter*>(self);
  if (!a->queue_gone) a->sem->waiters_.remove(a);
  a->canceled = true;
  detail::resume_later(*a->owner, a->h);
}

void event::set() noexcept {
  set_ = true;
  while (auto* w = waiters_.pop_front()) w->wake_later();
}

void event::wait_awaiter::on_cancel(detail::cancel_hook* self) noexcept {
  auto* a = static_cast<wait_awaiter*>(self);
  if (!a->queue_gone) a->ev->waiters_.remove(a);
  a->canceled = true;
  detail::resume_later(*a->owner, a->h);
}

bool gate::try_enter() noexcept {
  if (closed_) return false;
  if (count_++ == 0) idle_.reset();
  return true;
}

gate::~gate() {
  for (holder* h = holders_; h != nullptr; h = h->next_) h->g_ = nullptr;
}

gate::holder gate::enter() {
  if (!try_enter()) throw std::system_error(detail::canceled_error(), "weft::gate is closed");
  holder h;
  h.g_ = this;
  detail::intrusive_list<holder, &holder::prev_, &holder::next_>::push_front(holders_, &h);
  return h;  // moved: take() hands the list place to the caller's holder
}

void gate::holder::take(holder& o) noexcept {
  g_ = std::exchange(o.g_, nullptr);
  if (g_ == nullptr) return;
  detail::intrusive_list<holder, &holder::prev_, &holder::next_>::replace(g_->holders_, &o, this);
}

void gate::holder::release() noexcept {
  gate* g = std::exchange(g_, nullptr);
  if (g == nullptr) return;
  detail::intrusive_list<holder, &holder::prev_, &holder::next_>::unlink(g->holders_, this);
  g->leave();
}

task<void> gate::wait() {
  // The event is set by the last leave and reset by the next entry, which
  // may come before this resumes: so look again, as task_group::wait does.
  while (count_ != 0) co_await idle_.wait();
}

void gate::leave() noexcept {
  if (--count_ == 0) idle_.set();
}

}  // namespace weft
