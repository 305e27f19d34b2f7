// connection_tracker (server.hpp): one loop's connections, for graceful
// shutdown.

#include <weft/http/server.hpp>

#include "core/intrusive_list.hpp"
#include "sys/linux/syscalls.hpp"

namespace weft::http {

namespace {
bool request_waiting(int fd) noexcept {
  char byte;
  if (fd < 0) return false;
  auto r = sys::peek(fd, &byte, 1);
  return r.ok() && r.value > 0;
}
}  // namespace

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
// One whose next request the kernel holds already is not idle, whatever
// its buffer says: closed as idle, it was closed over that request, and the
// reset destroyed the end of the answer before it, still on its way (found
// by review). It reads the request, and answers with Connection: close.
bool connection_tracker::close_now(entry* e) noexcept {
  if (!e->ctx || request_waiting(e->fd)) return false;
  e->ctx->cancel_root();  // it leaves the list on a later turn, as it ends
  return true;
}

void connection_tracker::close_idle() noexcept {
  closing_idle_ = true;
  for (entry* e = head_; e != nullptr; e = e->next)
    if (e->idle) close_now(e);
}

std::size_t connection_tracker::close_some_idle(std::size_t most, time_point idle_by) noexcept {
  // From the oldest, and looking at a bounded number: called every pause
  // of the accepts (10 ms at first) while out of descriptors, a walk of
  // every connection cost the loop in proportion to them all.
  std::size_t closed = 0, looked = 0;
  for (entry* e = tail_; e != nullptr && closed < most && looked < 32 * most;
       e = e->prev, ++looked) {
    if (e->idle && e->idle_since <= idle_by && close_now(e)) ++closed;
  }
  return closed;
}

void connection_tracker::drain() noexcept {
  stop_keep_alive();
  close_idle();
}

}  // namespace weft::http
