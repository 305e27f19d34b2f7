#include <weft/net/errors.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/timeout.hpp>

#include <netinet/tcp.h>

#include <algorithm>
#include <cstring>

#include "sys/linux/syscalls.hpp"

namespace weft {

using detail::stream_op;

void stream_op::on_cancel(cancel_hook* self) noexcept {
  auto* op = static_cast<stream_op*>(self);
  op->owner->io_unwait(op->stream->fd_, op->direction);
  op->canceled = true;
  detail::resume_later(*op->owner, op->h);
}

void stream_op::throw_if_failed() const {
  throw_if_canceled();
  if (err == 0) return;
  if (category_net) throw std::system_error(make_error_code(static_cast<net_errc>(err)));
  throw std::system_error(err, std::system_category());
}

tcp_stream::tcp_stream(loop& l, unique_fd fd, trigger t) noexcept
    : loop_(&l), fd_(fd.release()), trig_(t) {}

tcp_stream::tcp_stream(tcp_stream&& o) noexcept
    : loop_(o.loop_),
      fd_(std::exchange(o.fd_, -1)),
      trig_(o.trig_),
      eof_(o.eof_),
      drained_(o.drained_),
      consume_(std::exchange(o.consume_, 0)),
      scanned_(std::exchange(o.scanned_, 0)),
      read_limit_(o.read_limit_),
      in_(std::move(o.in_)),
      out_(std::move(o.out_)) {}

tcp_stream& tcp_stream::operator=(tcp_stream&& o) noexcept {
  if (this != &o) {
    close();
    loop_ = o.loop_;
    fd_ = std::exchange(o.fd_, -1);
    trig_ = o.trig_;
    eof_ = o.eof_;
    drained_ = o.drained_;
    consume_ = std::exchange(o.consume_, 0);
    scanned_ = std::exchange(o.scanned_, 0);
    read_limit_ = o.read_limit_;
    in_ = std::move(o.in_);
    out_ = std::move(o.out_);
  }
  return *this;
}

tcp_stream::~tcp_stream() { close(); }

void tcp_stream::close() noexcept {
  if (fd_ < 0) return;
  loop_->io_forget(fd_);  // before close: the number may be reused at once
  sys::close(fd_);
  fd_ = -1;
  in_ = {};
  out_ = {};
}

void tcp_stream::shutdown_write() noexcept {
  if (fd_ >= 0) (void)sys::shutdown(fd_, SHUT_WR);
}

void tcp_stream::set_nodelay(bool on) {
  if (auto st = sys::set_int_option(fd_, IPPROTO_TCP, TCP_NODELAY, on); !st.ok())
    throw std::system_error(st.error(), "TCP_NODELAY");
}

void tcp_stream::set_cork(bool on) {
  if (auto st = sys::set_int_option(fd_, IPPROTO_TCP, TCP_CORK, on); !st.ok())
    throw std::system_error(st.error(), "TCP_CORK");
}

endpoint tcp_stream::peer() const {
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (auto st = sys::peer_address(fd_, addr, len); !st.ok()) throw std::system_error(st.error(), "getpeername");
  return endpoint::from_sockaddr(addr, len);
}

// Hands back the bytes the previous read_until returned.
void tcp_stream::settle() noexcept {
  if (consume_ != 0) {
    in_.consume(consume_);
    consume_ = 0;
  }
}

int tcp_stream::flush_some() noexcept {
  while (!out_.empty()) {
    auto r = sys::send(fd_, out_.data(), out_.size());
    if (!r.ok()) return r.err;
    bool partial = r.value < out_.size();
    out_.consume(r.value);
    // A short send means the socket buffer is full: the next would EAGAIN.
    if (partial) return EAGAIN;
  }
  out_.release_if_empty();
  return 0;
}

int tcp_stream::fill() noexcept {
  if (drained_) {
    drained_ = false;
    return EAGAIN;
  }
  in_.reserve(1, std::max(read_limit_, detail::pool_block_size));
  std::size_t want = in_.writable();
  auto r = sys::read(fd_, in_.write_ptr(), want);
  if (!r.ok()) return r.err;
  if (r.value == 0) {
    eof_ = true;
    return 0;
  }
  in_.commit(r.value);
  // Evidence for skipping the read that would only say EAGAIN: a short read
  // drained the socket. Edge-triggered waits stay correct because the loop
  // remembers edges that come while no one waits.
  drained_ = r.value < want;
  return 0;
}

bool tcp_stream::read_until_op::await_ready() {
  stream->settle();
  return step(this);
}

bool tcp_stream::read_until_op::step(stream_op* base) {
  auto* op = static_cast<read_until_op*>(base);
  tcp_stream& s = *op->stream;
  s.read_limit_ = op->max_bytes + 1;
  for (;;) {
    std::size_t size = s.in_.size();
    if (size > s.scanned_) {
      const char* begin = s.in_.data();
      const void* hit = std::memchr(begin + s.scanned_, op->delim, size - s.scanned_);
      if (hit != nullptr) {
        std::size_t len = static_cast<const char*>(hit) - begin + 1;
        if (len - 1 > op->max_bytes) break;
        op->line = {begin, len};
        s.consume_ = static_cast<uint32_t>(len);
        s.scanned_ = 0;
        return true;
      }
      s.scanned_ = static_cast<uint32_t>(size);
    }
    if (size > op->max_bytes) break;
    if (s.eof_) {  // the partial line, then an empty view
      op->line = s.in_.view();
      s.consume_ = static_cast<uint32_t>(size);
      s.scanned_ = 0;
      return true;
    }
    if (int rc = s.flush_some(); rc != 0) {
      if (rc != EAGAIN) return op->err = rc, true;
      op->direction = io::writable;
      return false;
    }
    int rc = s.fill();
    if (rc == EAGAIN) {
      s.in_.release_if_empty();  // idle: hold no buffer while waiting
      op->direction = io::readable;
      return false;
    }
    if (rc != 0) return op->err = rc, true;
  }
  op->err = static_cast<int>(net_errc::line_too_long);
  op->category_net = true;
  return true;
}

bool tcp_stream::read_some_op::await_ready() {
  stream->settle();
  return step(this);
}

bool tcp_stream::read_some_op::step(stream_op* base) {
  auto* op = static_cast<read_some_op*>(base);
  tcp_stream& s = *op->stream;
  if (op->buf.empty()) return true;
  if (!s.in_.empty()) {
    op->n = std::min(op->buf.size(), s.in_.size());
    std::memcpy(op->buf.data(), s.in_.data(), op->n);
    s.in_.consume(op->n);
    s.scanned_ = 0;
    s.in_.release_if_empty();
    return true;
  }
  if (s.eof_) return true;
  if (int rc = s.flush_some(); rc != 0) {
    if (rc != EAGAIN) return op->err = rc, true;
    op->direction = io::writable;
    return false;
  }
  if (s.drained_) {
    s.drained_ = false;
    op->direction = io::readable;
    return false;
  }
  // Straight into the caller's buffer: no copy through in_.
  auto r = sys::read(s.fd_, op->buf.data(), op->buf.size());
  if (r.would_block()) {
    op->direction = io::readable;
    return false;
  }
  if (!r.ok()) return op->err = r.err, true;
  if (r.value == 0) s.eof_ = true;
  s.drained_ = r.value > 0 && r.value < op->buf.size();
  op->n = r.value;
  return true;
}

bool tcp_stream::read_exact_op::await_ready() {
  stream->settle();
  return step(this);
}

bool tcp_stream::read_exact_op::step(stream_op* base) {
  auto* op = static_cast<read_exact_op*>(base);
  tcp_stream& s = *op->stream;
  for (;;) {
    if (op->done == op->buf.size()) return true;
    if (!s.in_.empty()) {
      std::size_t n = std::min(op->buf.size() - op->done, s.in_.size());
      std::memcpy(op->buf.data() + op->done, s.in_.data(), n);
      s.in_.consume(n);
      s.scanned_ = 0;
      s.in_.release_if_empty();
      op->done += n;
      continue;
    }
    if (s.eof_) {
      op->err = static_cast<int>(net_errc::unexpected_eof);
      op->category_net = true;
      return true;
    }
    if (int rc = s.flush_some(); rc != 0) {
      if (rc != EAGAIN) return op->err = rc, true;
      op->direction = io::writable;
      return false;
    }
    s.read_limit_ = detail::pool_block_size;
    int rc = s.fill();
    if (rc == EAGAIN) {
      s.in_.release_if_empty();
      op->direction = io::readable;
      return false;
    }
    if (rc != 0) return op->err = rc, true;
  }
}

bool tcp_stream::write_op::await_ready() {
  tcp_stream& s = *stream;
  // A large write_all with nothing buffered is sent straight from the
  // caller's memory; everything else is copied into the output buffer.
  bool direct = all && s.out_.empty() && data.size() >= flush_threshold;
  if (!direct) {
    s.out_.append(data);
    data = {};
  }
  if (!all && s.out_.size() < flush_threshold) return true;
  return step(this);
}

bool tcp_stream::write_op::step(stream_op* base) {
  auto* op = static_cast<write_op*>(base);
  tcp_stream& s = *op->stream;
  if (s.fd_ < 0) return op->err = EBADF, true;
  if (int rc = s.flush_some(); rc != 0) {
    if (rc != EAGAIN) return op->err = rc, true;
    op->direction = io::writable;
    return false;
  }
  while (!op->data.empty()) {
    auto r = sys::send(s.fd_, op->data.data(), op->data.size());
    if (r.would_block()) {
      op->direction = io::writable;
      return false;
    }
    if (!r.ok()) return op->err = r.err, true;
    op->data.remove_prefix(r.value);
    if (!op->data.empty()) {
      op->direction = io::writable;
      return false;
    }
  }
  return true;
}

tcp_stream::read_some_op tcp_stream::read_some(std::span<char> buf) noexcept {
  read_some_op op;
  op.stream = this;
  op.buf = buf;
  return op;
}

tcp_stream::read_until_op tcp_stream::read_until(char delim, std::size_t max_bytes) noexcept {
  read_until_op op;
  op.stream = this;
  op.delim = delim;
  op.max_bytes = max_bytes;
  return op;
}

tcp_stream::read_exact_op tcp_stream::read_exact(std::span<char> buf) noexcept {
  read_exact_op op;
  op.stream = this;
  op.buf = buf;
  return op;
}

tcp_stream::write_op tcp_stream::write(std::string_view bytes) noexcept {
  write_op op;
  op.stream = this;
  op.data = bytes;
  return op;
}

tcp_stream::write_op tcp_stream::write_all(std::string_view bytes) noexcept {
  write_op op;
  op.stream = this;
  op.data = bytes;
  op.all = true;
  return op;
}

task<void> tcp_stream::linger_close(duration limit, std::size_t max_discard) {
  try {
    co_await with_timeout(limit, flush());
    shutdown_write();
    consume_ = 0;
    in_ = {};
    char sink[4096];
    std::size_t discarded = 0;
    while (discarded < max_discard) {
      std::size_t n = co_await with_timeout(limit, read_some(sink));
      if (n == 0) break;
      discarded += n;
    }
  } catch (const std::system_error&) {
    // Timed out, reset or cancelled: close regardless.
  }
  close();
}

task<tcp_stream> tcp_stream::connect(endpoint to, duration timeout, trigger t) {
  auto sock = sys::socket_tcp(to.family());
  if (!sock.ok()) throw std::system_error(sock.error(), "socket");
  loop* l = loop::current();
  if (detail::task_context* ctx = co_await detail::this_context{}) l = ctx->owner;
  tcp_stream s(*l, unique_fd(sock.value), t);
  auto st = sys::connect(s.fd_, to.data(), to.size());
  if (!st.ok() && st.err != EINPROGRESS) throw std::system_error(st.error(), "connect");
  if (!st.ok()) {
    co_await with_timeout(timeout, writable(s.fd_, t));
    auto so = sys::get_int_option(s.fd_, SOL_SOCKET, SO_ERROR);
    if (!so.ok()) throw std::system_error(so.error(), "connect");
    if (so.value != 0) throw std::system_error(so.value, std::system_category(), "connect");
  }
  co_return s;
}

}  // namespace weft
