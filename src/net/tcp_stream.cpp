#include <weft/core/fd_io.hpp>
#include <weft/core/log.hpp>
#include <weft/net/errors.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/timeout.hpp>

#include <netinet/tcp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>

#include "net/scan_line.hpp"
#include "sys/linux/syscalls.hpp"

namespace weft {

using detail::stream_op;

void stream_op::reset(kind k) noexcept {
  what = k;
  all = false;
  category_net = false;
  canceled = false;
  err = 0;
  ptr = nullptr;
  len = done = max = 0;
}

bool stream_op::step() noexcept {
  tcp_stream& s = *stream;
  if (s.fd_ < 0) [[unlikely]]
    return err = EBADF, true;  // closed, by another task or between ops
  switch (what) {
    case kind::read_some:
      return s.step_read_some(*this);
    case kind::read_until:
      return s.step_read_until(*this);
    case kind::read_exact:
      return s.step_read_exact(*this);
    case kind::read_more:
      return s.step_read_more(*this);
    case kind::write:
      return s.step_write(*this);
    case kind::send_file:
      return s.step_send_file(*this);
    case kind::nothing:
      return true;
  }
  return true;
}

void stream_op::on_io(io_waiter* self, uint32_t events) noexcept {
  auto* op = static_cast<stream_op*>(self);
  // Data and the peer's FIN can share one edge: once the peer is known to
  // have closed, a short read no longer proves the next would say EAGAIN.
  op->stream->note_peer_end(events);
  try {
    for (;;) {
      if (op->step()) break;
      if (op->direction == 0) {  // a step that did its share: the loop's turn
        op->step_next_turn();
        return;
      }
      if (op->wait_or_take_edge()) return;
    }
  } catch (const std::system_error& e) {
    // The wait could not be registered (epoll_ctl: ENOSPC past
    // max_user_watches, ENOMEM): the op fails with it, as in suspend().
    // Thrown on, it left this noexcept function, and std::terminate ended
    // the server (found by review).
    op->err = e.code().value();
  } catch (const std::bad_alloc&) {
    op->err = ENOMEM;  // the loop's table, or its queue of next-turn steps
  } catch (const std::exception& e) {
    // A logic_error (a second waiter on the fd, another task's misuse):
    // a bug, said as such, where suspend() would throw it to the task.
    op->err = EINVAL;
    log_error({"tcp_stream: ", e.what()});
  } catch (...) {
    op->err = EIO;
  }
  op->done_waiting();
  op->h.resume();
}

void stream_op::on_yield(void* self) noexcept {
  auto* op = static_cast<stream_op*>(self);
  op->yielding = false;
  on_io(op, 0);
}

void stream_op::on_cancel(cancel_hook* self) noexcept {
  auto* op = static_cast<stream_op*>(self);
  tcp_stream& s = *op->stream;
  op->owner->io_unwait(s.fd_, op->direction);
  op->stop_yielding();
  if (op->let_go_if_destroyed()) return;
  // A write that a reader handed its replies to: the reader, waiting for
  // input, sends them itself now (flush_first), as nobody else will.
  stream_op* reader = s.other(*op);
  if (writes(op->what) && !s.out_.empty() && reader != nullptr && reader->waiting() &&
      reader->direction == io::readable)
    s.restep(*reader);
  // Only a wait for room says the peer stopped taking its bytes: a write's,
  // or a read's flush of what was written before it (which it missed, and
  // a server that followed the header closed with a FIN that waited behind
  // them, found by review). A write cancelled in its turn of the loop (a
  // yield) said so too, and a server then reset a client that was reading
  // (found by review).
  if (op->direction == io::writable) s.write_cancelled_ = true;
  op->end_cancelled();
}

void stream_op::on_cancelled(cancel_hook* self) noexcept {
  auto* op = static_cast<stream_op*>(self);
  if (op->let_go_if_destroyed()) return;  // the loop drops its resumption
  op->ctx->pending = op;                  // cancelled already: it stays pending until it resumes
}

bool stream_op::let_go_if_destroyed() noexcept {
  if (ctx == nullptr || !ctx->destroying) return false;
  // Its loop destroys the task instead of resuming it, and nothing will
  // read this op again: the stream is free for the next one at once.
  busy = false;
  ctx = nullptr;
  return true;
}

void stream_op::end_cancelled() noexcept {
  canceled = true;
  cancel = &on_cancelled;
  if (ctx) ctx->pending = this;
  detail::resume_later(*owner, h, ctx);
}

void stream_op::throw_error() const {
  throw_if_canceled();
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
      peer_closed_(o.peer_closed_),
      write_cancelled_(o.write_cancelled_),
      backed_up_(o.backed_up_),
      consume_(std::exchange(o.consume_, 0)),
      scanned_(std::exchange(o.scanned_, 0)),
      read_limit_(o.read_limit_),
      in_(std::move(o.in_)),
      out_(std::move(o.out_)) {}

tcp_stream& tcp_stream::operator=(tcp_stream&& o) noexcept {
  if (this != &o) {
    close();
    duplex_ = false;  // the new connection starts simplex
    if (second_ && !second_->busy) second_.reset();
    loop_ = o.loop_;
    fd_ = std::exchange(o.fd_, -1);
    trig_ = o.trig_;
    eof_ = o.eof_;
    drained_ = o.drained_;
    peer_closed_ = o.peer_closed_;
    write_cancelled_ = o.write_cancelled_;
    backed_up_ = o.backed_up_;
    consume_ = std::exchange(o.consume_, 0);
    scanned_ = std::exchange(o.scanned_, 0);
    read_limit_ = o.read_limit_;
    in_ = std::move(o.in_);
    out_ = std::move(o.out_);
  }
  return *this;
}

tcp_stream::~tcp_stream() {
  // No wake-up here: a stream destroyed under a suspended operation goes
  // with the frame that awaited it, which must not be resumed. The wait is
  // detached, so that cancelling the task (or destroying its loop) does not
  // reach into this stream, and what was queued for it is dropped: a
  // yield's next step, or a cancelled task's resumption, which would read
  // the op. That task then stays suspended until its loop goes.
  for (stream_op* op : {&op_, second_.get()}) {
    if (op == nullptr || !op->busy) continue;
    op->stop_yielding();
    op->done_waiting();
    op->owner->undefer_resume(op->h);
  }
  release();
}

void tcp_stream::close() noexcept {
  // An operation another green thread is suspended in ends, cancelled (as
  // Asio's operation_aborted), instead of waiting for good on a dropped fd.
  for (stream_op* op : {&op_, second_.get()}) {
    if (op == nullptr || fd_ < 0 || !op->waiting()) continue;
    op->stop_yielding();
    op->end_cancelled();
  }
  release();
}

void tcp_stream::cancel() noexcept {
  // As the task's cancellation would (task_context::cancel_pending), for
  // each op in turn: cancelling a write can restep the read beside it,
  // which stays waiting and is cancelled next.
  for (stream_op* op : {&op_, second_.get()}) {
    if (op == nullptr || !op->waiting()) continue;
    if (op->ctx != nullptr && op->ctx->pending == op) op->ctx->pending = nullptr;
    stream_op::on_cancel(op);
  }
}

void tcp_stream::abort() noexcept {
  if (fd_ >= 0) (void)sys::set_linger_zero(fd_);
  close();
}

[[gnu::cold, gnu::noinline]] stream_op& tcp_stream::start_beside(stream_op::kind k) {
  stream_op* other = op_.busy ? &op_ : second_ && second_->busy ? second_.get() : nullptr;
  stream_op* slot = &op_;
  if (other != nullptr) {
    if ((op_.busy && second_ && second_->busy) ||
        stream_op::writes(other->what) == stream_op::writes(k))
      throw std::logic_error(
          "weft::tcp_stream: a second read, or a second write, started while another green "
          "thread waits in one on the same stream (one read and one write at a time)");
    if (other == &op_) {
      if (!second_) second_ = std::make_unique<stream_op>();
      slot = second_.get();
    }
    // Only a real overlap: a cancelled op that its task has yet to see
    // (after close() and a new connection) leaves the stream simplex.
    if (other->waiting()) duplex_ = true;
    // A reader waiting for room to flush its own replies before it reads:
    // the writer starting now sends them with its own bytes, and the reader
    // steps again next turn, reading only. Both waiting for room would
    // claim the fd's one writer slot in the loop.
    if (!stream_op::writes(other->what) && other->waiting() && other->direction == io::writable)
      restep(*other);
  }
  slot->reset(k);
  slot->stream = this;
  return *slot;
}

[[gnu::cold, gnu::noinline]] bool tcp_stream::write_waits_beside(const stream_op& op) noexcept {
  const stream_op* o = other(op);
  // Only an op that sends when it steps: a buffered write (kind::nothing)
  // taking its turn of the loop sends nothing, and output left to it
  // stayed in the buffer (found by review).
  return o != nullptr && o->waiting() &&
         (o->what == stream_op::kind::write || o->what == stream_op::kind::send_file);
}

void tcp_stream::restep(stream_op& op) noexcept {
  loop_->io_unwait(fd_, op.direction);
  op.step_next_turn();
}

void tcp_stream::release() noexcept {
  if (fd_ < 0) return;
  loop_->io_forget(fd_);  // before close: the number may be reused at once
  sys::close(fd_);
  fd_ = -1;
  consume_ = scanned_ = 0;  // they describe in_, which goes
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
  if (auto st = sys::peer_address(fd_, addr, len); !st.ok())
    throw std::system_error(st.error(), "getpeername");
  return endpoint::from_sockaddr(addr, len);
}

int tcp_stream::flush_some(bool more) noexcept {
  while (!out_.empty()) {
    auto r = sys::send(fd_, out_.data(), out_.size(), more);
    if (!r.ok()) {
      if ((backed_up_ = r.would_block())) out_.settle_output();
      return r.err;
    }
    bool partial = r.value < out_.size();
    out_.consume(r.value);
    // A short send means the socket buffer is full: the next would EAGAIN.
    if (partial) {
      note_backed_up();
      return EAGAIN;
    }
    write_cancelled_ = backed_up_ = false;  // all of it left: the peer takes what it is sent
  }
  out_.release_if_empty();
  return 0;
}

[[gnu::always_inline]] inline std::optional<bool> tcp_stream::flush_first(stream_op& op,
                                                                          bool more) noexcept {
  int rc = flush_some(more);
  if (rc == 0) return std::nullopt;
  if (rc != EAGAIN) return op.err = rc, true;
  // A read leaves the rest to a write that waits for room beside it: both
  // waiting would claim the fd's one writer slot in the loop. Checked only
  // here, so the usual flush pays nothing.
  if (!stream_op::writes(op.what) && write_waits_beside(op)) return std::nullopt;
  op.direction = io::writable;
  return false;
}

// The end of the input is reported only after what was written before it
// has gone out: the usual task ends on that read (`if (line.empty())
// co_return`), and its stream then closed with the last replies still
// buffered. False: wait for room. A failure drops the output, since the
// peer is gone, and the end is reported.
bool tcp_stream::flush_at_eof(stream_op& op) noexcept {
  if (out_.empty()) return true;
  int rc = flush_some();
  if (rc == EAGAIN) {
    if (write_waits_beside(op)) return true;  // it sends them (flush_first)
    op.direction = io::writable;
    return false;
  }
  if (rc != 0) out_.consume(out_.size());
  return true;
}

// fill() and flush_first() are inlined into their callers, the read steps:
// called, they cost 9 instructions a keep-alive hello and 30 a 1 KiB file
// request (2,063 against 2,054 and 3,335 against 3,305, DEPTH=1
// bench/http/instructions.sh).
[[gnu::always_inline]] inline int tcp_stream::fill(std::size_t most) noexcept {
  if (drained_) {
    drained_ = false;
    return EAGAIN;
  }
  // A block that held a few bytes through a wait (shrink_for_wait) and was
  // emptied since (after a cancelled wait) goes: every later read was as
  // small as it.
  if (in_.capacity() < detail::pool_block_size) in_.release_if_empty();
  // A buffer that cannot grow fails this read, not the process: fill() is
  // noexcept, and the throw reached std::terminate (found by review, a
  // server under RLIMIT_AS reading long lines). The catch costs nothing
  // until it is taken.
  try {
    in_.reserve(1, std::max<std::size_t>(read_limit_, detail::pool_block_size));
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  } catch (const std::length_error&) {
    return EMSGSIZE;
  }
  std::size_t want = std::min(in_.writable(), most);
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
  drained_ = !peer_closed_ && r.value < want;
  return 0;
}

// Before waiting for input, send what is buffered: the peer may be waiting
// for our replies before it sends more. Then read. Returns true when the op
// is done (an error), false when it must wait (`direction` set) or, with
// op.err == 0 and more bytes in in_ or eof_, when the caller should look again.
bool tcp_stream::wait_for_input(stream_op& op, std::size_t most) noexcept {
  if (auto verdict = flush_first(op)) return *verdict;
  int rc = fill(most);
  if (rc == EAGAIN) {
    in_.shrink_for_wait();  // idle: hold no buffer while waiting, or a small one
    op.direction = io::readable;
    return false;
  }
  if (rc != 0) return op.err = rc, true;
  op.direction = 0;  // progress: look again
  return false;
}

namespace {
// Bytes one step of a read may take before the loop gets a turn (a step
// that returns false with no direction): a long line or a large read_exact
// from a client that kept up was read until EAGAIN in one step, holding the
// loop for as long as the client liked.
constexpr std::size_t step_read_budget = std::size_t{512} * 1024;
}  // namespace

bool tcp_stream::step_read_until(stream_op& op) noexcept {
  settle();
  op.max = detail::longest_line(op.max);  // within what the buffer holds
  read_limit_ = detail::line_capacity(op.max);
  const std::size_t at_start = in_.size();
  for (;;) {
    std::size_t size = in_.size();
    auto scan = detail::scan_line({in_.data(), size}, scanned_, op.delim, op.max);
    if (scan.what == detail::line_scan::too_long) break;
    if (scan.what == detail::line_scan::line) {
      op.ptr = in_.data();
      op.len = scan.len;
      consume_ = static_cast<uint32_t>(scan.len);
      scanned_ = 0;
      return true;
    }
    scanned_ = static_cast<uint32_t>(scan.scanned);
    if (eof_) {  // the partial line, then an empty view
      if (!flush_at_eof(op)) return false;
      op.ptr = in_.data();
      op.len = size;
      consume_ = static_cast<uint32_t>(size);
      scanned_ = 0;
      return true;
    }
    if (in_.size() - at_start >= step_read_budget) {
      op.direction = 0;  // the loop's turn; the next step scans on
      return false;
    }
    if (wait_for_input(op)) return true;
    if (op.direction != 0) return false;
  }
  op.err = static_cast<int>(net_errc::line_too_long);
  op.category_net = true;
  return true;
}

bool tcp_stream::step_read_some(stream_op& op) noexcept {
  settle();
  if (op.len == 0) return true;
  if (!in_.empty()) {
    op.done = std::min(op.len, in_.size());
    std::memcpy(const_cast<char*>(op.ptr), in_.data(), op.done);
    in_.consume(op.done);
    scanned_ = 0;
    in_.release_if_empty();
    return true;
  }
  if (eof_) return flush_at_eof(op);
  if (auto verdict = flush_first(op)) return *verdict;
  // Reads go straight into the caller's buffer, so in_ (empty here, but
  // perhaps still holding the block of an earlier read_until) is not needed
  // while waiting: an idle connection holds no buffer.
  in_.release_if_empty();
  if (drained_) {
    drained_ = false;
    op.direction = io::readable;
    return false;
  }
  auto r = sys::read(fd_, const_cast<char*>(op.ptr), op.len);
  if (r.would_block()) {
    op.direction = io::readable;
    return false;
  }
  if (!r.ok()) return op.err = r.err, true;
  if (r.value == 0) eof_ = true;
  drained_ = !peer_closed_ && r.value > 0 && r.value < op.len;
  op.done = r.value;
  return true;
}

bool tcp_stream::step_read_exact(stream_op& op) noexcept {
  settle();
  const std::size_t at_start = op.done;
  for (;;) {
    if (op.done == op.len) return true;
    if (op.done - at_start >= step_read_budget) {
      op.direction = 0;  // the loop's turn; the next step reads on
      return false;
    }
    if (!in_.empty()) {
      std::size_t n = std::min(op.len - op.done, in_.size());
      std::memcpy(const_cast<char*>(op.ptr) + op.done, in_.data(), n);
      in_.consume(n);
      scanned_ = 0;
      in_.release_if_empty();
      op.done += n;
      continue;
    }
    if (eof_) {
      // What was written goes before the end is reported, as in every
      // read: an end seen by an earlier read failed this one at once, and
      // the reply still buffered was dropped (found by review).
      if (!flush_at_eof(op)) return false;
      op.err = static_cast<int>(net_errc::unexpected_eof);
      op.category_net = true;
      return true;
    }
    read_limit_ = static_cast<uint32_t>(detail::pool_block_size);
    if (wait_for_input(op)) return true;
    if (op.direction != 0) return false;
  }
}

// Buffered bytes (a response head) and the caller's (a large body) leave
// together in one sendmsg: one syscall per 16 KiB file response instead of
// a MSG_MORE send and a second call (strace -c under wrk).
bool tcp_stream::step_write(stream_op& op) noexcept {
  if (!out_.empty() || op.len > 0) {
    iovec iov[2] = {{const_cast<char*>(out_.data()), out_.size()},
                    {const_cast<char*>(op.ptr), op.len}};
    // A flush (nothing of the caller's) is a plain send: sendmsg costs the
    // kernel a msghdr and an iovec array to copy in and check, on every
    // batch of responses.
    auto r =
        op.len == 0 ? sys::send(fd_, out_.data(), out_.size(), false) : sys::sendv(fd_, iov, 2);
    if (r.would_block()) {
      note_backed_up();
      op.direction = io::writable;
      return false;
    }
    if (!r.ok()) return op.err = r.err, true;
    std::size_t from_buffer = std::min(r.value, out_.size());
    out_.consume(from_buffer);
    op.ptr += r.value - from_buffer;
    op.len -= r.value - from_buffer;
    if (!out_.empty() || op.len > 0) {  // short send: the socket buffer is full
      note_backed_up();
      op.direction = io::writable;
      return false;
    }
    write_cancelled_ = backed_up_ = false;  // as in flush_some
  }
  out_.release_if_empty();
  return true;
}

bool tcp_stream::step_read_more(stream_op& op) noexcept {
  settle();
  if (eof_) return flush_at_eof(op);  // what was written goes before the end is reported
  std::size_t before = in_.size();
  // At most what the buffer holds (2 GiB), whatever the caller allowed:
  // past it, fill() grew the buffer one byte per read, each a 2 GiB copy.
  op.max = std::min(op.max, detail::io_buffer::max_capacity);
  if (before >= op.max) {
    op.err = static_cast<int>(net_errc::line_too_long);
    op.category_net = true;
    return true;
  }
  read_limit_ = static_cast<uint32_t>(op.max);
  // At most up to the limit: under a pooled block's size, the block would
  // take more than the caller allowed.
  if (wait_for_input(op, op.max - before)) return true;
  if (op.direction != 0) return false;
  op.done = in_.size() - before;
  return true;
}

bool tcp_stream::step_send_file(stream_op& op) noexcept {
  // MSG_MORE only when file bytes follow: with none, it held the buffered
  // head back about 200 ms.
  if (auto verdict = flush_first(op, /*more=*/op.done < op.max)) return *verdict;
  // op.done is the file offset, op.max the end. One slice of up to 512 KiB
  // per step, and the loop gets a turn between slices (a step that returns
  // false with no direction): a reader that kept up never made sendfile say
  // EAGAIN, and a 4 GiB file held the loop for 3 s.
  if (op.done < op.max) {
    std::size_t slice =
        static_cast<std::size_t>(std::min<uint64_t>(op.max - op.done, uint64_t{512} * 1024));
    uint64_t offset = op.done;
    auto r = sys::sendfile(fd_, op.file_fd, &offset, slice);
    if (r.would_block()) {
      note_backed_up();
      op.direction = io::writable;
      return false;
    }
    if (!r.ok()) return op.err = r.err, true;
    if (r.value == 0)
      return op.err = static_cast<int>(net_errc::unexpected_eof), op.category_net = true, true;
    op.done = offset;
    if (op.done < op.max) {
      op.direction = 0;
      return false;
    }
    write_cancelled_ = backed_up_ = false;  // as in flush_some
  }
  return true;
}

tcp_stream::write_op tcp_stream::send_file(int file_fd, std::uint64_t offset, std::uint64_t count) {
  // An end past what an off_t holds wrapped (offset 1, count UINT64_MAX
  // ended at 0), and the send completed at once with no byte of the file
  // sent (found by review).
  constexpr auto off_max = static_cast<std::uint64_t>(INT64_MAX);
  if (offset > off_max || count > off_max - offset)
    throw std::invalid_argument(
        "weft::tcp_stream::send_file: the range ends past the largest offset");
  stream_op& op = start(stream_op::kind::send_file);
  op.file_fd = file_fd;
  op.done = offset;
  op.max = offset + count;
  return {&op};
}

tcp_stream::read_some_op tcp_stream::read_more(std::size_t capacity_limit) {
  stream_op& op = start(stream_op::kind::read_more);
  op.max = capacity_limit;
  return {&op};
}

bool tcp_stream::watch_input(input_watch& w) {
  if (eof_ || peer_closed_ || fd_ < 0) return false;
  w.stream = this;
  w.on_ready = [](detail::io_waiter* self, uint32_t events) noexcept {
    auto* watch = static_cast<input_watch*>(self);
    // As a read's wake-up would: the edge is taken, so the next read must
    // look (drained_ would skip to a wait for an edge that came), and a
    // FIN in it means a short read no longer proves the socket empty.
    watch->stream->drained_ = false;
    watch->stream->note_peer_end(events);
    watch->on_input(watch);
  };
  uint32_t came = 0;
  if (loop_->io_wait(fd_, io::readable, trig_, &w, &came)) {
    // Waiting, for an edge that may have come already: a read that filled
    // its buffer (not drained_) took the edge of bytes it left in the
    // socket. Said to watch them, an edge-triggered watch waited for more
    // (found by review). A level-triggered one hears of them at once.
    if (trig_ == trigger::level || drained_ || peek_socket() == socket_input::nothing) return true;
    loop_->io_unwait(fd_, io::readable, &w);
    return false;
  }
  drained_ = false;  // the loop had kept an edge for the next read: taken
  note_peer_end(came);
  // The edge may be stale, its bytes read since (a read that did not need
  // to wait left it kept): then wait for the next one, now that it is taken.
  if (peek_socket() != socket_input::nothing) return false;
  return loop_->io_wait(fd_, io::readable, trig_, &w);
}

void tcp_stream::stop_watching_input() noexcept {
  // Closed while watched (a body cut with abort()): the close dropped the
  // registration, and the watch with it.
  if (fd_ >= 0) loop_->io_unwait(fd_, io::readable);
}

tcp_stream::socket_input tcp_stream::peek_socket() noexcept {
  if (eof_ || fd_ < 0) return socket_input::end;
  char byte;
  auto r = sys::peek(fd_, &byte, 1);
  if (r.ok()) return r.value == 0 ? socket_input::end : socket_input::bytes;
  return r.err == EAGAIN ? socket_input::nothing : socket_input::end;
}

tcp_stream::read_some_op tcp_stream::read_some(std::span<char> buf) {
  stream_op& op = start(stream_op::kind::read_some);
  op.ptr = buf.data();
  op.len = buf.size();
  return {&op};
}

tcp_stream::read_until_op tcp_stream::read_until(char delim, std::size_t max_bytes) {
  stream_op& op = start(stream_op::kind::read_until);
  op.delim = delim;
  op.max = max_bytes;
  // How far an earlier read_until looked holds for its delimiter, and only
  // until it ended: one that timed out left it, and a read_until(';') then
  // started past a ';' and returned two lines as one.
  scanned_ = 0;
  return {&op};
}

tcp_stream::read_exact_op tcp_stream::read_exact(std::span<char> buf) {
  stream_op& op = start(stream_op::kind::read_exact);
  op.ptr = buf.data();
  op.len = buf.size();
  return {&op};
}

tcp_stream::write_op tcp_stream::write(std::string_view bytes) {
  stream_op& op = start(stream_op::kind::write);
  // Copied now, so the caller's bytes (often a view into in_) may change
  // once we return. The awaiter then only flushes past the threshold, or
  // at once on a duplex stream, where no read of this task's may come to
  // flush it.
  if (fd_ >= 0) out_.append(bytes);  // a closed stream fails the op (EBADF), and keeps nothing
  if (out_.size() < flush_limit() && !duplex()) op.what = stream_op::kind::nothing;
  return {&op};
}

tcp_stream::write_op tcp_stream::write_all(std::string_view bytes) {
  stream_op& op = start(stream_op::kind::write);
  op.all = true;
  // The bytes are sent straight from the caller's memory (it is suspended
  // until they are gone), behind what is buffered, in one sendmsg. Never
  // copied into the buffer: a write_all cancelled or timed out would then
  // still go out with the buffer later (DESIGN-NOTES §3). Measured: the copy
  // through a pooled block cost about 170 instructions per small write_all
  // (bench/micro).
  op.ptr = bytes.data();
  op.len = bytes.size();
  return {&op};
}

namespace {
// Reads and discards until the peer's EOF; past `max` bytes, until all
// that was sent has reached the peer (see linger_close).
task<void> discard_input(tcp_stream* s, std::size_t max) {
  char sink[4096];  // in the frame of every connection that lingers
  for (std::size_t discarded = 0;;) {
    std::size_t n = co_await s->read_some(sink);
    if (n == 0) break;
    discarded += n;
    if (discarded >= max && all_sent_acknowledged(s->native_handle())) break;
  }
}
}  // namespace

task<void> tcp_stream::linger_close(duration limit, std::size_t max_discard) {
  bool stalled = false;
  try {
    co_await with_timeout(limit, flush());
    shutdown_write();
    consume_ = 0;
    in_ = {};
    // One limit for the whole discard, not one per read: a peer sending a
    // byte now and then kept a closing connection for as long as it liked.
    // Past it, a peer still owed bytes the kernel took gets one more: one
    // that took none of them from one look to the next has stopped
    // reading (one look was not enough: the peer's kernel takes a little
    // as the discard begins).
    for (std::size_t last = SIZE_MAX;;) {
      try {
        co_await with_timeout(limit, discard_input(this, max_discard));
        break;
      } catch (const std::system_error& e) {
        if (e.code() != std::errc::timed_out) throw;
      }
      bool first_look = last == SIZE_MAX;
      peer_intake seen = look_at_intake(fd_, last);
      stalled = seen == peer_intake::stalled;
      if (seen != peer_intake::taking || !first_look) break;
    }
  } catch (const std::exception&) {
    // Timed out, reset or cancelled, or (std::logic_error) another task
    // waits in a write or read of this stream: close regardless, which
    // ends that task's wait.
  }
  // A peer that stopped taking its bytes is reset, as write_cancelled()
  // says: closed, the kernel went on holding them for it (found by review).
  // So is one that took none of those the kernel took at once: 1.1 MB of
  // answers to a client that pipelined past --max-requests and read none
  // sat in FIN_WAIT1 for minutes (found by review).
  if (write_cancelled_ || stalled)
    abort();
  else
    close();
}

task<tcp_stream> tcp_stream::connect(endpoint to, duration timeout, trigger t) {
  loop& l = detail::loop_for(co_await detail::this_context{});
  auto sock = sys::socket_tcp(to.family());
  if (!sock.ok()) throw std::system_error(sock.error(), "socket");
  tcp_stream s(l, unique_fd(sock.value), t);
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
