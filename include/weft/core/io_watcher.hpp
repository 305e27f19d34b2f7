#pragma once
// io_watcher: the callback API. Watch an fd; the handler runs on the loop
// with the epoll event bits each time the fd is reported ready.
//
//   weft::io_watcher w(loop, fd, weft::io::readable, [&](uint32_t ev) { ... });
//
// Level-triggered watchers are reported while the fd stays ready; edge-
// triggered ones only on a change, so their handler must read (or write)
// until EAGAIN. Stopping or destroying a watcher inside any handler is safe:
// an event already fetched for it in the current batch is dropped, and a
// handler that destroys its own watcher keeps its captures until it returns.
//
// The constructor throws std::logic_error for an fd already watched, or one
// a green thread waits on, and std::system_error when epoll refuses the fd
// (a regular file, or out of memory); set_events throws the latter too.
//
// Threading: belongs to its loop's thread. Not copyable or movable (the loop
// holds its address); hold it in a unique_ptr to move it around.
// The watcher does not own the fd; stop (or destroy) it before closing the fd.

#include <weft/core/loop.hpp>

#include <functional>
#include <memory>

namespace weft {

class io_watcher : private detail::io_waiter {
 public:
  using handler = std::function<void(uint32_t events)>;

  io_watcher(loop& l, int fd, uint32_t events, handler h, trigger t = trigger::level);
  ~io_watcher();
  io_watcher(const io_watcher&) = delete;
  io_watcher& operator=(const io_watcher&) = delete;

  // Changes the events of interest; costs an epoll_ctl only if they differ.
  // With none (0), the fd leaves epoll until interest returns, so a paused
  // watcher is not called even for a hangup or an error, which epoll
  // reports whatever the mask. The handler gets only the events asked for
  // when it runs, and a hangup or an error: narrowed by an earlier handler
  // of the same batch, it is not called for what it no longer asks for.
  void set_events(uint32_t events);
  uint32_t events() const noexcept { return events_; }
  void stop() noexcept;
  bool active() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }

 private:
  static void fire(detail::io_waiter* self, uint32_t events);

  loop* loop_;
  int fd_;
  uint32_t events_;
  // On the heap, so that a watcher destroyed by its own handler can leave
  // the handler, captures and all, to the call still running it: ~io_watcher
  // moves it to *firing_, which fire() frees once the handler returns.
  std::unique_ptr<handler> handler_;
  std::unique_ptr<handler>* firing_ = nullptr;
};

}  // namespace weft
