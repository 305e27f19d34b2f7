#pragma once
// tcp_stream: a connected TCP socket with buffered green-thread I/O.
//
//   task<void> echo(tcp_stream s) {              // by value: lives in the frame
//     for (;;) {
//       auto line = co_await s.read_until('\n', 65536);
//       if (line.empty()) break;                 // EOF
//       co_await s.write(line);                  // buffered
//     }
//   }
//
// Writes are batched: write() appends to an output buffer, which is flushed
// when it passes flush_limit() or, automatically, just before the stream
// waits for input, and before a read reports the end of the input.
// Sequential code thus gets one send per batch of replies ("corking in user
// space", DESIGN-NOTES §1). write_all() and flush() send everything before
// returning. Output still buffered when the stream closes is dropped: a task
// that ends other than on a read's EOF flushes first.
//
// Buffers come from a per-thread pool and go back whenever they empty, so an
// idle connection holds none; a few bytes waiting for the rest of their line
// or head (a slow client) wait in a block of their own size.
//
// Errors throw std::system_error: errno values (connection_reset,
// broken_pipe), std::errc::operation_canceled or timed_out when cancelled,
// and weft::net_errc. EOF is not an error: read_some returns 0, read_until
// an empty view.
//
// Threading: a stream belongs to the loop it was created on; use it from
// green threads of that loop, one read and one write at a time (a reader
// task and a writer task may share it). It may be moved between operations
// (not while one is pending).

#include <weft/core/loop.hpp>
#include <weft/core/unique_fd.hpp>
#include <weft/net/address.hpp>
#include <weft/net/buffer.hpp>
#include <weft/task/task.hpp>
#include <weft/task/wait.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

namespace weft {

class tcp_stream;

namespace detail {
// The one operation a stream may have in flight, as a retryable state
// machine: step() makes progress with non-blocking syscalls and returns true
// when the operation is done (with a result or an error), or false with
// `direction` set to what to wait for. It lives in the stream, not in the
// awaiter: GCC gives every co_await temporary its own slot in the frame, so
// a fat awaiter per call site would be paid for by every idle connection.
struct stream_op : wait_base, io_waiter {
  enum class kind : uint8_t {
    read_some,
    read_until,
    read_exact,
    read_more,
    write,
    send_file,
    nothing
  };
  tcp_stream* stream = nullptr;
  kind what = kind::read_some;
  bool all = false;           // write: send everything before completing
  bool category_net = false;  // err is a net_errc, not an errno
  // From the suspension until the waiting task has resumed and seen the
  // result: a cancelled op stays the stream's while its resumption is
  // queued, so that no other task's op overwrites it in between. Its task
  // keeps it as its pending operation meanwhile (on_cancelled), so that a
  // loop destroying the task, instead of resuming it, frees the op.
  bool busy = false;
  bool yielding = false;  // its next step is queued for the loop's next turn
  char delim = '\n';
  // io::readable or io::writable (or 0). One byte, and file_fd beside err,
  // keep the op at 104 bytes, so the stream, with its second op's pointer,
  // is still 192: an idle connection's frame stays in its malloc chunk.
  uint8_t direction = 0;
  int err = 0;
  int file_fd = -1;           // send_file: the source; max is its end offset
  const char* ptr = nullptr;  // buffer, data to write, or the line found
  std::size_t len = 0;
  std::size_t done = 0;  // bytes read so far / returned
  std::size_t max = 0;   // read_until's limit

  // Clears the last operation's state for a new one of kind k.
  void reset(kind k) noexcept;
  static bool writes(kind k) noexcept { return k >= kind::write; }
  bool step() noexcept;
  // step(), unless the stream's operations have completed without waiting
  // tcp_stream::ready_budget times in a row: then false, and suspend yields
  // to the loop before stepping. A connection that always has input and
  // room never has to wait, and so held its loop: under a flood `weft echo`
  // answered no other connection on that loop for seconds, and missed a
  // SIGTERM (tcp_stream.a_stream_that_never_waits_still_lets_the_loop_run).
  inline bool step_now() noexcept;
  // Waits for `direction` (true), or takes the edge the loop kept for it
  // (false: step again), noting a peer's end that came with that edge.
  inline bool wait_or_take_edge();
  static void on_yield(void* self) noexcept;
  template <class P>
  bool suspend(std::coroutine_handle<P> caller);
  static void on_cancel(cancel_hook* self) noexcept;
  static void on_cancelled(cancel_hook* self) noexcept;
  // In a cancel hook: true, with the op free, when the task's loop is
  // destroying the task (see task_context::destroying).
  bool let_go_if_destroyed() noexcept;
  static void on_io(io_waiter* self, uint32_t events) noexcept;
  // A task is suspended in this op, and it is not cancelled.
  bool waiting() const noexcept { return busy && !canceled; }
  // ctx is set only while a task is suspended in this op (waiting, or
  // cancelled and not yet resumed): the stream may outlive that task.
  void done_waiting() noexcept {
    finish();
    ctx = nullptr;
  }
  // Ends the wait, cancelled: the task resumes on the ready phase and
  // throws operation_canceled.
  void end_cancelled() noexcept;
  // Drops the queued step of an op that stops waiting other than by it
  // (cancelled, closed, destroyed): it would run on a finished op, or on a
  // freed stream.
  // Queues the next step for the loop's next turn, with nothing to wait on
  // (so on_cancel unregisters nothing): after ready_budget operations in a
  // row, a step that did its share of a long operation, or a restep.
  void step_next_turn() {
    direction = 0;
    owner->defer(&on_yield, this);
    yielding = true;
  }
  void stop_yielding() noexcept {
    if (yielding) {
      yielding = false;
      owner->undefer(&on_yield, this);
    }
  }
  // Inline: every await checks; only a failure pays for the call.
  void throw_if_failed() const {
    if (err != 0 || canceled) throw_error();
  }
  [[noreturn]] void throw_error() const;
};

// The awaiters are one pointer each; the work happens in the stream's op.
template <class Result>
struct stream_awaiter {
  stream_op* op;
  bool await_ready() noexcept { return op->step_now(); }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> caller) {
    return op->suspend(caller);
  }
  Result await_resume() const {
    op->busy = false;
    if (op->ctx) [[unlikely]]
      op->done_waiting();  // cancelled: it was still its task's pending op
    op->throw_if_failed();
    if constexpr (std::is_same_v<Result, std::size_t>) {
      return op->done;
    } else if constexpr (std::is_same_v<Result, std::string_view>) {
      return {op->ptr, op->len};
    }
  }
};
}  // namespace detail

class tcp_stream {
 public:
  // Bytes buffered by write() before it flushes on its own while the peer
  // keeps up; what holds now is flush_limit(), below.
  static constexpr std::size_t flush_threshold = std::size_t{64} * 1024;
  // ... while the peer is behind: see flush_limit().
  static constexpr std::size_t backed_up_threshold = std::size_t{4} * 1024;

  tcp_stream() noexcept = default;
  tcp_stream(loop& l, unique_fd fd, trigger t = trigger::edge) noexcept;
  tcp_stream(tcp_stream&& o) noexcept;
  tcp_stream& operator=(tcp_stream&& o) noexcept;
  ~tcp_stream();

  // Connects, failing with std::errc::timed_out after `timeout`.
  static task<tcp_stream> connect(endpoint to, duration timeout, trigger t = trigger::edge);

  // One read and one write at a time. A green thread may read while
  // another writes (Eventlet's chat server: each client's task reads its
  // lines while the others' write to it). Starting a second read while
  // another task waits in one, or a second write while one waits for room,
  // throws std::logic_error and leaves the waiting one alone. Once a read
  // and a write have overlapped, the stream is duplex (until a new
  // connection is move-assigned into it): every write() sends at once,
  // instead of waiting for a read to flush it. A read still sends what is
  // buffered, but leaves it to a write that waits for room beside it. To
  // end another task's wait, close() the stream; destroying it under that
  // task leaves the task suspended until its loop goes.
  using read_some_op = detail::stream_awaiter<std::size_t>;
  using read_until_op = detail::stream_awaiter<std::string_view>;
  using read_exact_op = detail::stream_awaiter<void>;
  using write_op = detail::stream_awaiter<void>;

  // Reads what is available (at least one byte), or 0 at EOF.
  read_some_op read_some(std::span<char> buf);
  // Reads up to and including `delim`. The view is valid until the next
  // operation on this stream. At EOF it returns the partial line (without
  // delim), then an empty view. A line of more than max_bytes before the
  // delimiter fails with net_errc::line_too_long.
  read_until_op read_until(char delim, std::size_t max_bytes);
  // Fills buf, or fails with net_errc::unexpected_eof. One that fails (at
  // EOF, or cancelled, or timed out) has taken what had arrived into buf
  // without saying how much: the stream is then out of step with its peer
  // and is best closed. (read_until keeps a partial line in the stream.)
  read_exact_op read_exact(std::span<char> buf);
  // For parsers that work in place (HTTP): reads more bytes into the input
  // buffer, which then holds at most `capacity_limit` bytes, and returns how
  // many arrived (0 at EOF). Fails with net_errc::line_too_long if the buffer is
  // already full. Read the bytes with buffered(), drop them with consume().
  read_some_op read_more(std::size_t capacity_limit);
  // Inline: the HTTP server calls both once per request, and as calls they
  // cost ~25 instructions of a pipelined one (bench/http/instructions.sh).
  std::string_view buffered() noexcept {
    settle();
    return in_.view();
  }
  void consume(std::size_t n) noexcept {
    settle();
    in_.consume(std::min(n, in_.size()));
    scanned_ = 0;
  }

  // What write() buffers before it sends: flush_threshold, or while the
  // peer is behind (a send could not take all it was given, and none has
  // since) backed_up_threshold. A client that pipelines and stops reading
  // then holds the server to a few KiB of its answers, not 64: `weft
  // hello` held 68 KiB a connection where nginx, which answers a pipeline
  // one request at a time, held 4.2 (bench/memory/unread_answers.py
  // --load hello-pipelined). A peer that keeps up never fills the socket,
  // and its answers leave in the usual batches.
  std::size_t flush_limit() const noexcept {
    return backed_up_ ? backed_up_threshold : flush_threshold;
  }
  // Buffers bytes; sends only once the buffer passes flush_limit(). The
  // bytes join the buffer when it is called: cancelled while it waits for
  // room, or in a turn of the loop, it throws, and they still leave with
  // the next flush (echo's idle clock relies on it). write_all sends no
  // more of a cancelled call's bytes.
  write_op write(std::string_view bytes);
  // Sends bytes and everything buffered before them; partial writes and
  // EAGAIN are handled. Large writes skip the buffer (no copy).
  write_op write_all(std::string_view bytes);
  write_op flush() { return write_all({}); }
  // Sends what is buffered without waiting. True when nothing is left;
  // false when the socket is full or failed, and a flush() then waits for
  // room or reports the error. Lets a caller skip arming a write timeout
  // for a flush that needs no wait, as nearly every one does.
  bool try_flush() noexcept { return flush_some() == 0; }
  // For building a message in place in the output buffer (the HTTP
  // response head): room for at least n bytes, of which commit_output(k)
  // keeps the first k. Nothing is sent; flush or write later.
  char* output_space(std::size_t n) {
    if (out_.writable() < n) out_.reserve(n, SIZE_MAX);  // inline test: once a response
    return out_.write_ptr();
  }
  void commit_output(std::size_t n) noexcept { out_.commit(n); }
  // Withdraws what was built in place and not yet sent: drops the buffered
  // output past its first `keep` bytes (keep <= buffered_output()).
  void truncate_output(std::size_t keep) noexcept { out_.truncate(keep); }
  // Sends `count` bytes of file `file_fd` from `offset` with sendfile(2),
  // after what is buffered. The buffered bytes (headers) go with MSG_MORE,
  // so they share a packet with the file's first bytes. The file stays open.
  // A range that ends past INT64_MAX (off_t) throws std::invalid_argument.
  write_op send_file(int file_fd, std::uint64_t offset, std::uint64_t count);

  // Ends our sending direction (after the buffer, if flushed first).
  void shutdown_write() noexcept;

  // Watching for input while nothing reads: a server whose handler waits
  // on something else (a backend, a long poll) learns that its client has
  // gone, where it would find out only when it next writes. `w.on_input`
  // runs once, from the loop, when bytes or the peer's end (a FIN, a
  // reset) arrive; peek_socket() then says which. Returns false, watching
  // nothing, when input may already be there: peek_socket() says. Stop
  // watching before the next read on this stream, and before `w` goes;
  // do not move the stream while watching. Closing it ends the watch (and
  // stopping it then does nothing). The bytes stay for
  // the next read, which finds them though the watch took the edge that
  // announced them.
  struct input_watch : detail::io_waiter {
    tcp_stream* stream = nullptr;  // set by watch_input
    void (*on_input)(input_watch* self) = nullptr;
  };
  [[nodiscard]] bool watch_input(input_watch& w);
  void stop_watching_input() noexcept;
  // What the socket holds for this stream to read, without reading it:
  // bytes, the peer's end (EOF, or an error such as a reset), or nothing
  // yet. Bytes already read into the buffer are buffered()'s business.
  enum class socket_input : std::uint8_t { nothing, bytes, end };
  socket_input peek_socket() noexcept;
  // Whether the last read left nothing in the socket (it was short, or met
  // the peer's end): closed with no byte come since, the connection ends
  // with a FIN, not with the reset that unread input makes, which can
  // destroy what the peer has yet to read. Evidence from that read, with
  // no syscall: bytes may have come since.
  bool read_to_last_byte() const noexcept { return drained_ || eof_; }
  // Closes after an error reply without losing it: flushes (for at most
  // `limit`), ends our direction, then reads and discards until the peer's
  // EOF or `limit` more in all; past max_discard bytes, until the peer has
  // acknowledged all that was sent. Closing with unread input would make
  // the kernel send a reset, which can destroy the reply before the client
  // reads it (nginx calls this lingering close). A client that keeps
  // sending may get that reset once it has all of the reply. Stopping at
  // max_discard alone destroyed the answers still queued for a client that
  // pipelined past --max-requests (found by review). A flush cut at
  // `limit`, by a peer that stopped reading, ends in a reset (abort(), see
  // write_cancelled()). A discard cut at `limit` while the kernel still
  // holds bytes for the peer gets `limit` once more; a peer that took none
  // of them from one to the next is reset too. Never throws.
  task<void> linger_close(duration limit = std::chrono::seconds(1),
                          std::size_t max_discard = 1 << 20);
  // Closes now. An operation another green thread is suspended in on this
  // stream ends with std::errc::operation_canceled. Until that task has
  // resumed and seen it, the stream (even one move-assigned a new
  // connection) refuses other operations, as above.
  void close() noexcept;
  // Closes now with a reset (RST), not a FIN, dropping buffered output: the
  // way to tell a peer that a body whose end is the connection's end was
  // cut short. Otherwise as close().
  void abort() noexcept;
  // Ends every operation a green thread is suspended in on this stream
  // with std::errc::operation_canceled, as Asio's socket::cancel() does,
  // without cancelling the green thread: the stream stays open, and the
  // next operation goes on from where that one stopped (a cancelled write
  // keeps its bytes buffered, a read_until its partial line). How an idle
  // sweep ends a connection's wait (idle_clock).
  void cancel() noexcept;
  // A green thread is suspended in an operation on this stream (and it is
  // not cancelled).
  bool waiting() const noexcept { return op_.waiting() || (second_ && second_->waiting()); }
  // A write ended cancelled (a timeout, its task's cancellation) while it
  // waited for room, or a read while it waited for room to flush what was
  // written before it, and no write has sent all of its bytes since: the peer
  // is not taking what it is sent. A server that gives up on such a peer
  // ends with abort(), since a FIN would wait behind the unsent bytes, the
  // kernel holding them for as long as the peer keeps its window shut
  // (nginx's reset_timedout_connection).
  bool write_cancelled() const noexcept { return write_cancelled_; }

  void set_nodelay(bool on);
  // TCP_CORK: hold partial frames until uncorked (or 200 ms).
  void set_cork(bool on);

  bool is_open() const noexcept { return fd_ >= 0; }
  int native_handle() const noexcept { return fd_; }
  loop& owner() const noexcept { return *loop_; }
  endpoint peer() const;
  std::size_t buffered_output() const noexcept { return out_.size(); }
  // Makes the next operation give the loop a turn before its first step,
  // as one does after ready_budget operations that did not wait: for a
  // writer that sends much in few operations (a streamed body's pieces).
  void yield_before_next() noexcept { streak_ = ready_budget; }
  // A green thread is suspended in a write (or send_file) on this stream.
  bool writing() const noexcept {
    auto writes = [](const detail::stream_op& op) {
      return op.waiting() && detail::stream_op::writes(op.what);
    };
    return writes(op_) || (second_ && writes(*second_));
  }

 private:
  friend struct detail::stream_op;
  bool step_read_some(detail::stream_op& op) noexcept;
  bool step_read_until(detail::stream_op& op) noexcept;
  bool step_read_exact(detail::stream_op& op) noexcept;
  bool step_write(detail::stream_op& op) noexcept;
  bool step_read_more(detail::stream_op& op) noexcept;
  bool step_send_file(detail::stream_op& op) noexcept;
  bool wait_for_input(detail::stream_op& op, std::size_t most = SIZE_MAX) noexcept;
  // From the events of an edge taken, however it was taken (a wake-up, a
  // watch, or one the loop kept): once the peer is known to have ended, a
  // short read no longer sets drained_.
  void note_peer_end(uint32_t events) noexcept {
    if (events & io::peer_end) peer_closed_ = true;
  }
  // Hands back the bytes the previous read_until returned.
  void settle() noexcept {
    if (consume_ != 0) [[unlikely]] {
      in_.consume(consume_);
      consume_ = 0;
    }
  }
  int flush_some(bool more = false) noexcept;  // 0: all sent; EAGAIN; or errno
  // A send could not take all it was given: flush_limit() drops, and what
  // is left waits in a block of its own size.
  void note_backed_up() noexcept {
    backed_up_ = true;
    out_.settle_output();
  }
  // Sends what is buffered before an op goes on. Empty: all sent, go on.
  // Otherwise the op's step result: false to wait for writability, true
  // when it failed (op.err set).
  std::optional<bool> flush_first(detail::stream_op& op, bool more = false) noexcept;
  // Reads at most `most` bytes into in_: 0, EAGAIN, or errno; sets eof_.
  int fill(std::size_t most = SIZE_MAX) noexcept;
  bool flush_at_eof(detail::stream_op& op) noexcept;
  void release() noexcept;  // close() without waking a suspended operation
  // The op slot for a new operation of kind k: op_, unless another task's
  // operation is in flight (start_beside).
  detail::stream_op& start(detail::stream_op::kind k) {
    if (!op_.busy && !second_) [[likely]] {
      op_.reset(k);
      op_.stream = this;
      return op_;
    }
    return start_beside(k);
  }
  detail::stream_op& start_beside(detail::stream_op::kind k);
  // The stream's other op slot, if any.
  detail::stream_op* other(const detail::stream_op& op) noexcept {
    return &op == &op_ ? second_.get() : &op_;
  }
  // A write op of another task waits: a read then leaves the output to it.
  bool write_waits_beside(const detail::stream_op& op) noexcept;
  // Makes a waiting op step again on the next turn (as a yield does).
  void restep(detail::stream_op& op) noexcept;
  // A read and a write have overlapped: every write() sends at once.
  bool duplex() const noexcept { return duplex_; }

  loop* loop_ = nullptr;
  int fd_ = -1;
  trigger trig_ = trigger::edge;
  static constexpr std::uint8_t ready_budget = 64;
  bool eof_ = false;
  bool drained_ = false;          // the last read was short: the next would EAGAIN
  bool peer_closed_ = false;      // an event said RDHUP/HUP: short reads prove nothing
  std::uint8_t streak_ = 0;       // operations completed in a row without waiting
  bool duplex_ = false;           // see duplex(); in the padding after streak_
  bool write_cancelled_ = false;  // see write_cancelled(); in the padding too
  bool backed_up_ = false;        // see flush_limit(); and here
  uint32_t consume_ = 0;          // bytes of in_ handed out by the last read_until
  uint32_t scanned_ = 0;          // bytes of in_ already searched for the delimiter
  uint32_t read_limit_ = 0;       // capacity cap while read_until grows in_
  detail::io_buffer in_;
  detail::io_buffer out_;
  detail::stream_op op_;
  // The second operation in flight, allocated when a read and a write
  // first overlap: a stream used by one task at a time never pays for it.
  std::unique_ptr<detail::stream_op> second_;
};

inline bool detail::stream_op::step_now() noexcept {
  if (stream->streak_ >= tcp_stream::ready_budget) return false;
  if (!step()) return false;
  ++stream->streak_;
  return true;
}

inline bool detail::stream_op::wait_or_take_edge() {
  uint32_t came = 0;
  if (owner->io_wait(stream->fd_, direction, stream->trig_, this, &came)) return true;
  // Data and the peer's FIN can share one edge: a short read of the last
  // bytes no longer proves the next would say EAGAIN (see fill()).
  stream->note_peer_end(came);
  return false;
}

template <class P>
bool detail::stream_op::suspend(std::coroutine_handle<P> caller) {
  if (!begin(caller, &on_cancel)) {
    // Cancelled before it could wait for room: the peer is not taking its
    // bytes, as in on_cancel (a task cut at a shutdown's grace that wrote
    // in its cleanup closed with a FIN behind them; found by review).
    if (direction == io::writable) stream->write_cancelled_ = true;
    ctx = nullptr;
    return false;
  }
  on_ready = &on_io;
  try {
    // A turn for the rest of the loop, after which the step runs (on_yield):
    // after ready_budget operations in a row that did not wait, or when a
    // step did its share of a long operation and said so (no direction).
    bool yield = stream->streak_ >= tcp_stream::ready_budget || direction == 0;
    stream->streak_ = 0;
    for (;;) {
      if (yield) {
        step_next_turn();
        busy = true;
        return true;
      }
      if (wait_or_take_edge()) {
        busy = true;
        return true;
      }
      // The edge already came while nobody waited: retry now.
      if (step()) {
        done_waiting();
        return false;
      }
      yield = direction == 0;
    }
  } catch (...) {
    // epoll_ctl or the ready queue failed (ENOMEM): the task resumes with
    // the error, and is no longer this op's (a later cancel must not reach it).
    done_waiting();
    throw;
  }
}

}  // namespace weft
