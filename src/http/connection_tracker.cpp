// connection_tracker (server.hpp): one loop's connections, for graceful
// shutdown.

#include <weft/http/server.hpp>

#include "core/intrusive_list.hpp"

namespace weft::http {

connection_tracker::~connection_tracker() {
  for (entry* e = head_; e != nullptr; e = e->next) e->tracker = nullptr;
}

void connection_tracker::add(entry* e, time_point now) noexcept {
  e->tracker = this;
  e->idle_since = now;
  weft::detail::intrusive_list<entry>::push_front(head_, e);
  if (tail_ == nullptr) tail_ = e;
}

void connection_tracker::remove(entry* e) noexcept {
  if (e == tail_) tail_ = e->prev;
  weft::detail::intrusive_list<entry>::unlink(head_, e);
  e->tracker = nullptr;
}

// A connection idle once close_idle has begun. One whose response went out
// before the drain began promised keep-alive: it stays for its next request
// (answered with Connection: close) until close_idle. Cancelling it at
// drain() failed the request wrk had already sent (seen in
// tests/faults/test_graceful_restart.py).
void connection_tracker::close_now(entry* e) noexcept {
  if (e->ctx) e->ctx->cancel_root();
}

void connection_tracker::close_idle() noexcept {
  closing_idle_ = true;
  for (entry* e = head_; e != nullptr; e = e->next)
    if (e->idle && e->ctx) e->ctx->cancel_root();
}

std::size_t connection_tracker::close_some_idle(std::size_t most, time_point idle_by) noexcept {
  // From the oldest, and looking at a bounded number: called every pause
  // of the accepts (10 ms at first) while out of descriptors, a walk of
  // every connection cost the loop in proportion to them all.
  std::size_t closed = 0, looked = 0;
  for (entry* e = tail_; e != nullptr && closed < most && looked < 32 * most;
       e = e->prev, ++looked) {
    if (e->idle && e->idle_since <= idle_by && e->ctx) {
      e->ctx->cancel_root();  // it leaves the list on a later turn, as it ends
      ++closed;
    }
  }
  return closed;
}

void connection_tracker::drain() noexcept {
  stop_keep_alive();
  close_idle();
}

}  // namespace weft::http
