#include <weft/core/log.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/sleep.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "sys/linux/syscalls.hpp"

namespace weft {

int effective_backlog(int requested) noexcept {
  if (requested <= 0) requested = 4096;
  return std::min(requested, sys::somaxconn());
}

bool is_resource_exhaustion(int err) noexcept {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

namespace {
const char* shortage_name(int err) noexcept {
  switch (err) {
    case EMFILE:
      return "EMFILE: this process's descriptor limit";
    case ENFILE:
      return "ENFILE: the system's descriptor limit";
    case ENOBUFS:
      return "ENOBUFS";
    default:
      return "ENOMEM";
  }
}
bool is_v4_mapped(const endpoint& at) noexcept {
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(at.data());
  return IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr);
}
}  // namespace

bool is_transient_accept_error(int err) noexcept {
  switch (err) {
    case ECONNABORTED:
    case EINTR:
    // accept(2): Linux passes a new connection's pending network error to
    // accept, and for TCP/IP these are to be retried as EAGAIN is (found
    // by review: a green thread's accept threw on them).
    case ENETDOWN:
    case EPROTO:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    // Not EPERM, which accept(2) puts down to "firewall rules": on Linux it
    // comes from a policy (an LSM, a seccomp filter) asked before a
    // connection is taken off the queue, so it comes again every time, and
    // retried at once it held the loop for good (found by review).
    default:
      return false;
  }
}

void log_accept_pause(int err) noexcept {
  // Its words without allocating: the shortage may be memory, and a
  // std::bad_alloc here ended the accept loop (found by review).
  if (is_resource_exhaustion(err)) {
    log_warn({"accept: out of descriptors or memory; pausing accepts (", shortage_name(err), ")"});
  } else if (err == EPERM) {
    log_warn({"accept: refused by a security policy (EPERM); pausing accepts"});
  } else {
    const char* what = ::strerrordesc_np(err);
    log_error({"accept: ", what != nullptr ? what : "unknown error", "; pausing accepts"});
  }
}

tcp_listener tcp_listener::bind(const endpoint& at, const listen_options& opts) {
  auto sock = sys::socket_tcp(at.family());
  if (!sock.ok()) throw std::system_error(sock.error(), "socket");
  tcp_listener l;
  l.fd_.reset(sock.value);
  l.opts_ = opts;
  int fd = l.fd_.get();
  if (opts.reuse_address)
    if (auto st = sys::set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1); !st.ok())
      throw std::system_error(st.error(), "SO_REUSEADDR");
  if (opts.reuse_port)
    if (auto st = sys::set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1); !st.ok())
      throw std::system_error(st.error(), "SO_REUSEPORT");
  // Best effort: without it, connections are accepted bare, as by default.
  if (opts.defer_accept_seconds > 0)
    (void)sys::set_int_option(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, opts.defer_accept_seconds);
  // [::] means IPv6 only; bind 0.0.0.0 too for both. An IPv4-mapped
  // address names an IPv4 one, which an IPv6-only socket refuses (EINVAL):
  // it binds dual, taking IPv4 clients, whatever net.ipv6.bindv6only says
  // (found by review).
  if (at.is_v6())
    (void)sys::set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, is_v4_mapped(at) ? 0 : 1);
  if (auto st = sys::bind(fd, at.data(), at.size()); !st.ok())
    throw std::system_error(st.error(), "bind " + at.to_string());
  if (auto st = sys::listen(fd, effective_backlog(opts.backlog)); !st.ok())
    throw std::system_error(st.error(), "listen");
  return l;
}

endpoint tcp_listener::local_endpoint() const {
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (auto st = sys::local_address(fd_.get(), addr, len); !st.ok())
    throw std::system_error(st.error(), "getsockname");
  return endpoint::from_sockaddr(addr, len);
}

unique_fd tcp_listener::try_accept(int& err) noexcept {
  auto r = sys::accept(fd_.get());
  err = r.err;
  return r.ok() ? unique_fd(r.value) : unique_fd();
}

// An accept() in progress and its listener point at each other, so that
// either may go first: the frame (destroyed or done) unlinks itself from a
// live listener, and a listener closed or destroyed marks the wait detached,
// so the frame never touches it again.
struct tcp_listener::accept_wait {
  tcp_listener* self;
  detail::task_context* ctx;
  bool detached = false;
  accept_wait(tcp_listener* s, detail::task_context* c) noexcept : self(s), ctx(c) {
    self->accepting_ = this;
  }
  accept_wait(const accept_wait&) = delete;
  accept_wait& operator=(const accept_wait&) = delete;
  ~accept_wait() {
    if (!detached) self->accepting_ = nullptr;
  }
};

tcp_listener::tcp_listener(tcp_listener&& o) noexcept
    : fd_(std::move(o.fd_)),
      opts_(o.opts_),
      owner_(std::exchange(o.owner_, nullptr)),
      accepting_(std::exchange(o.accepting_, nullptr)),
      burst_(std::exchange(o.burst_, 0)),
      warned_(o.warned_),
      on_shortage_(std::move(o.on_shortage_)) {
  if (accepting_) accepting_->self = this;
}

tcp_listener& tcp_listener::operator=(tcp_listener&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::move(o.fd_);
    opts_ = o.opts_;
    owner_ = std::exchange(o.owner_, nullptr);
    burst_ = std::exchange(o.burst_, 0);
    warned_ = o.warned_;
    on_shortage_ = std::move(o.on_shortage_);
    accepting_ = std::exchange(o.accepting_, nullptr);
    if (accepting_) accepting_->self = this;
  }
  return *this;
}

// The loop that registered the fd must forget it before the number can be
// reused; loop::current() alone missed a listener destroyed after its loop
// stopped running (tcp_listener.a_new_listener_on_a_reused_fd_number_accepts).
void tcp_listener::close() noexcept {
  detail::task_context* waiter = accepting_ ? accepting_->ctx : nullptr;
  release();
  // Only the pending wait is cancelled, not the green thread: its accept()
  // fails, and the task may go on. The resumption is deferred, so the
  // listener may be destroyed before the task runs.
  if (waiter) waiter->cancel_pending();
}

void tcp_listener::release() noexcept {
  if (accepting_) std::exchange(accepting_, nullptr)->detached = true;
  if (!fd_) return;
  if (loop* l = owner_ ? owner_ : loop::current()) l->io_forget(fd_.get());
  owner_ = nullptr;
  fd_.reset();
}

task<tcp_stream> tcp_listener::accept() {
  // One at a time: the loop keeps one reader per fd, and close() ends the
  // one accept it knows.
  if (accepting_ != nullptr)
    throw std::logic_error("weft::tcp_listener: accept() while another green thread waits in one");
  detail::task_context* ctx = co_await detail::this_context{};
  loop& l = detail::loop_for(ctx);
  owner_ = &l;
  duration backoff = 10ms;
  accept_wait wait(this, ctx);
  for (;;) {
    // The listener may have been moved while we waited (the wait follows
    // it) or closed: `this` is not looked at after a suspension.
    if (wait.detached) throw std::system_error(std::make_error_code(std::errc::operation_canceled));
    tcp_listener& self = *wait.self;
    // A storm of connects must not starve the rest of the loop (DESIGN-NOTES
    // §4): after `batch` accepts in a row that did not wait, found a
    // connection or a failure of one, the next gives the loop a turn first,
    // as tcp_acceptor does per readiness event. `weft echo` took its whole
    // backlog in one go.
    if (self.burst_ >= batch) {
      self.burst_ = 0;
      co_await yield_now();
      continue;
    }
    int err = 0;
    unique_fd c = self.try_accept(err);
    if (c) {
      ++self.burst_;
      co_return tcp_stream(l, std::move(c), self.opts_.accepted_trigger);
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
      self.burst_ = 0;
      // Level-triggered: an idle listener costs no epoll_ctl per accept.
      co_await readable(self.fd_.get(), trigger::level);
    } else if (is_resource_exhaustion(err) || err == EPERM) {
      self.burst_ = 0;
      // Once per listener and cause, as tcp_acceptor warns: once per
      // accept() call, clients that came and went at the limit made 23
      // lines a second.
      if (self.warned_ != err) {
        log_accept_pause(err);
        self.warned_ = err;
      }
      if (err != EPERM && self.on_shortage_) {
        try {
          self.on_shortage_();
        } catch (...) {
          // Its failure is its own: thrown on, it ended the accepts.
          log_error({"accept: the shortage hook failed: "}, std::current_exception());
        }
      }
      // Not waiting for readability here: the listener stays readable and a
      // level-triggered wait would spin. The loop drops the unused interest.
      co_await sleep(backoff);
      backoff = std::min<duration>(backoff * 2, 640ms);
    } else if (is_transient_accept_error(err)) {
      ++self.burst_;  // that one connection failed; the listener is fine
    } else {
      throw std::system_error(err, std::system_category(), "accept");
    }
  }
}

}  // namespace weft
