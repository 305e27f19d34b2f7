#pragma once
// channel<T>: a bounded FIFO between green threads on one loop (Go's
// buffered channel, Eventlet's Queue). send() suspends while the channel is
// full, receive() while it is empty. close() ends it: receivers drain what is
// left and then get std::nullopt; senders get std::errc::broken_pipe. A
// send that fails (closed, cancelled, timed out) drops its value with it.
//
// T need only be movable. Threading: one loop thread; all senders and
// receivers on that loop.

#include <weft/task/wait.hpp>

#include <deque>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace weft {

template <class T>
class channel {
 public:
  explicit channel(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("weft::channel: capacity must be at least 1");
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  struct send_awaiter : detail::queued_wait {
    channel* ch;
    T value;  // built from the sent one: T need not be default-constructible
    bool broken = false;
    send_awaiter(channel* c, T v) : ch(c), value(std::move(v)) {}
    bool await_ready() const noexcept { return false; }  // see caller_cancelled
    template <class P>
    bool await_suspend(std::coroutine_handle<P> caller) {
      if (detail::caller_cancelled(caller)) return canceled = true, false;
      broken = ch->closed_;
      if (broken || ch->try_push(value) || !begin(caller, &on_cancel)) return false;
      ch->senders_.push_back(this);
      return true;
    }
    void await_resume() const {
      throw_if_canceled();
      if (broken) throw std::system_error(std::make_error_code(std::errc::broken_pipe));
    }
    static void on_cancel(detail::cancel_hook* self) noexcept {
      auto* a = static_cast<send_awaiter*>(self);
      if (!a->queue_gone) a->ch->senders_.remove(a);
      a->canceled = true;
      detail::resume_later(*a->owner, a->h);
    }
  };

  struct receive_awaiter : detail::queued_wait {
    channel* ch;
    std::optional<T> slot;
    bool await_ready() const noexcept { return false; }  // see caller_cancelled
    template <class P>
    bool await_suspend(std::coroutine_handle<P> caller) {
      if (detail::caller_cancelled(caller)) return canceled = true, false;
      slot = ch->try_receive();
      if (slot.has_value() || ch->closed_ || !begin(caller, &on_cancel)) return false;
      ch->receivers_.push_back(this);
      return true;
    }
    std::optional<T> await_resume() {
      throw_if_canceled();
      return std::move(slot);
    }
    static void on_cancel(detail::cancel_hook* self) noexcept {
      auto* a = static_cast<receive_awaiter*>(self);
      if (!a->queue_gone) a->ch->receivers_.remove(a);
      a->canceled = true;
      detail::resume_later(*a->owner, a->h);
    }
  };

  send_awaiter send(T value) { return send_awaiter(this, std::move(value)); }
  receive_awaiter receive() {
    receive_awaiter a;
    a.ch = this;
    return a;
  }

  // Non-suspending forms. try_send fails when full or closed, and then
  // leaves the value with the caller: taken by value, a moved-in value
  // that cannot be copied was lost with the failed call (found by review).
  bool try_send(T&& value) { return !closed_ && try_push(value); }
  bool try_send(const T& value) requires std::is_copy_constructible_v<T> {
    T copy(value);
    return try_send(std::move(copy));
  }
  std::optional<T> try_receive() {
    if (items_.empty()) return std::nullopt;
    // The longest-waiting sender's value joins first (one past capacity for
    // a moment): if that throws, the sender is still queued and no item is
    // lost. A waiter leaves its queue only once its hand-over succeeded.
    if (auto* w = static_cast<send_awaiter*>(senders_.front())) {
      items_.push_back(std::move(w->value));
      senders_.remove(w);
      w->wake_later();
    }
    std::optional<T> out(std::move(items_.front()));
    items_.pop_front();
    return out;
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    while (auto* w = receivers_.pop_front()) w->wake_later();
    while (auto* w = static_cast<send_awaiter*>(senders_.pop_front())) {
      w->broken = true;
      w->wake_later();
    }
  }
  bool closed() const noexcept { return closed_; }
  std::size_t size() const noexcept { return items_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  bool try_push(T& value) {
    // A waiting receiver takes the value directly. It leaves the queue once
    // it has the value: a move that throws leaves it waiting in its place,
    // where it was once neither woken nor queued (found by review).
    if (auto* r = static_cast<receive_awaiter*>(receivers_.front())) {
      r->slot.emplace(std::move(value));
      receivers_.remove(r);
      r->wake_later();
      return true;
    }
    if (items_.size() >= capacity_) return false;
    items_.push_back(std::move(value));
    return true;
  }

  std::size_t capacity_;
  std::deque<T> items_;
  detail::wait_queue senders_, receivers_;
  bool closed_ = false;
};

}  // namespace weft
