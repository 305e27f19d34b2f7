// `weft qa`: the poll()-based question/answer server from "Foundations of
// Python Network Programming", written on the callback API as a
// per-connection state machine. The original crashed on an unknown
// question; this one answers "Error: unknown question." and carries on.

#include "commands.hpp"
#include "qa_protocol.hpp"

#include <weft/core/fd_io.hpp>
#include <weft/core/io_watcher.hpp>
#include <weft/net/tcp_acceptor.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace weft::app {
namespace {

class qa_service;

// An idle connection holds no buffer (DESIGN-NOTES §2): erase() keeps a
// string's capacity, and after one burst each idle connection kept about
// 400 KiB.
void release_if_empty(std::string& s) noexcept {
  if (s.empty() && s.capacity() > std::string().capacity()) std::string().swap(s);
}

// One client. States: reading (answering as questions complete), closing
// (flush what is owed, then close), closed (waiting to be freed).
class qa_connection {
 public:
  qa_connection(qa_service& svc, unique_fd fd, trigger t);
  ~qa_connection();
  void close() noexcept;
  // Stop reading, send what is owed, then close. With `linger`, the close
  // waits for the client's EOF (bounded), so unread input cannot turn it
  // into a reset that destroys the error reply.
  void finish_after_flush(bool linger = false);
  // The graceful stop: every question that had come is answered, those
  // held back at the output limit too, and those waiting unread in the
  // kernel (one read's budget of them): a connection accepted in the same
  // turn as the stop began had its question read only to be discarded,
  // and a FIN with no answer (found by review). Then no more reading, and
  // the close lingers (for at most 1 s): input may wait unread in the
  // kernel, and a plain close over it resets the connection, destroying
  // answers still queued there, which our own buffers cannot show.
  void begin_shutdown() {
    if (reading_ && fd_) read_input();
    finish_after_flush(true);
  }
  // Makes the close that follows (the destructor's) a reset, if answers are
  // still owed: unsent, unacknowledged, or to questions held back at the
  // output limit. Half a question is owed none (it was reset, found by
  // review).
  void cut_if_owing() noexcept {
    bool held_back = next_question(in_).what != qa_frame::need_more;
    if (fd_ && !lingering_ && (!out_.empty() || held_back || !all_sent_acknowledged(fd_.get())))
      reset_when_closed(fd_.get());
  }
  // Whether nothing has moved since `t`: no question read, no answer
  // taken. A lingering close has its own timer. Answers taken that the
  // socket has yet to show as room count too (reply_progress): they move
  // the clock on, and only the second look finds a client that took none.
  bool still_since(time_point t) noexcept;

 private:
  // Unsent output held at most (one answer longer than it alone): then
  // reading stops until the client catches up. 256 KiB, with one answer
  // appended past it, held 299 KiB a connection for a client that asked
  // and never read, for up to twice the idle timeout, and 1.6 MiB with
  // --answers of 1 MiB (found by review); the kernel's send buffer, on
  // loopback megabytes, keeps a reading client busy meanwhile.
  static constexpr std::size_t output_limit = std::size_t{64} * 1024;
  // Reads per readiness event, so one busy client cannot starve the loop.
  static constexpr int read_budget = 16;

  void on_event(uint32_t events);
  void read_input();
  void answer_questions();
  void flush();
  void arm();
  void schedule_read();
  void discard_input();
  // The linger timer: closes, once the kernel holds nothing more for the
  // client, or it has taken some of it since `last`, what it held at the
  // look before (SIZE_MAX: none yet, and it looks once more). A client that
  // took none from one look to the next has stopped reading, and is reset,
  // as tcp_stream::linger_close resets one: closed with a FIN, the kernel
  // went on sending ~230 KB of answers alone (FIN_WAIT1) for minutes (found
  // by review). One look was not enough: the client's kernel took 2 KB as
  // the linger began.
  void end_linger(std::size_t last) noexcept;
  static constexpr duration linger_look = std::chrono::seconds(1);
  void stop_reading(bool linger) noexcept;

  qa_service& svc_;
  unique_fd fd_;
  trigger trig_;
  std::string in_, out_;
  bool reading_ = true;
  bool closing_ = false;
  bool read_paused_ = false;
  bool full_ = false;       // a question's answer waits for room in out_
  bool linger_ = false;     // finish with a lingering close
  bool lingering_ = false;  // our side is shut; discarding until EOF
  std::size_t discarded_ = 0;
  timer_id linger_timer_ = no_timer;
  time_point moved_;  // the last question read or answer taken (see still_since)
  reply_progress progress_;
  io_watcher watcher_;
};

class qa_service final : public service {
 public:
  qa_service(loop& l, tcp_listener listener, std::shared_ptr<const answer_table> answers, trigger t,
             duration idle)
      : loop_(l),
        answers_(std::move(answers)),
        idle_(idle),
        acceptor_(l, std::move(listener), [this, t](unique_fd fd) {
          auto c = std::make_unique<qa_connection>(*this, std::move(fd), t);
          qa_connection* key = c.get();
          connections_.emplace(key, std::move(c));
        }) {
    // One timer for all connections, not one per connection moved on every
    // read: a connection is cut within a quarter of the timeout (at most a
    // second) past it.
    duration every =
        std::clamp<duration>(idle / 4, std::chrono::milliseconds(10), std::chrono::seconds(1));
    sweep_ = loop_.run_every(every, [this] { cut_idle(); });
  }

  void begin_shutdown(std::function<void()> done) override {
    acceptor_.close();
    // Answers already owed are flushed; then each connection closes.
    std::vector<qa_connection*> all;
    for (auto& [key, c] : connections_) all.push_back(key);
    for (qa_connection* c : all) c->begin_shutdown();
    done_ = std::move(done);
    // A client that stopped reading holds the stop up until the server's
    // --shutdown-timeout, which ends it (see ~qa_service). A cut here after
    // 1 s, whatever the flag said, dropped answers owed to slow readers,
    // with a FIN that passed for their end (found by an audit).
    maybe_done();
  }
  // At the shutdown timeout (or a second signal) the loop stops with
  // connections still open: they owe answers, or linger. One that owes
  // answers is cut with a reset, so that its client knows it was.
  ~qa_service() override {
    loop_.cancel(sweep_);
    for (auto& [key, c] : connections_) c->cut_if_owing();
  }

  // Second step of closing: free the connection later, on the loop's ready
  // phase, never inside its own callback.
  void release(qa_connection* c) {
    loop_.defer([this, c] {
      connections_.erase(c);
      maybe_done();
    });
  }

  loop& owner() { return loop_; }
  const answer_table& answers() const { return *answers_; }

 private:
  void maybe_done() {
    if (done_ && connections_.empty()) std::exchange(done_, nullptr)();
  }
  // --idle-timeout: a vanished client (its FIN lost) held its connection
  // for good (found by an audit). One owed answers it does not take is
  // reset, so that it knows it was cut.
  void cut_idle() {
    // close() only defers the erase (release), so the map can be walked.
    time_point since = loop_.now() - idle_;
    for (auto& [key, c] : connections_) {
      if (!c->still_since(since)) continue;
      c->cut_if_owing();
      c->close();
    }
  }

  loop& loop_;
  std::shared_ptr<const answer_table> answers_;
  duration idle_;
  timer_id sweep_ = no_timer;
  std::unordered_map<qa_connection*, std::unique_ptr<qa_connection>> connections_;
  tcp_acceptor acceptor_;
  std::function<void()> done_;
};

qa_connection::qa_connection(qa_service& svc, unique_fd fd, trigger t)
    : svc_(svc),
      fd_(std::move(fd)),
      trig_(t),
      moved_(svc.owner().now()),
      watcher_(
          svc.owner(), fd_.get(), io::readable, [this](uint32_t ev) { on_event(ev); }, t) {}

bool qa_connection::still_since(time_point t) noexcept {
  if (!fd_ || lingering_ || moved_ >= t) return false;
  if (!progress_.moved(fd_.get(), out_.size())) return true;
  moved_ = svc_.owner().now();
  return false;
}

qa_connection::~qa_connection() {
  if (linger_timer_ != no_timer) svc_.owner().cancel(linger_timer_);
}

void qa_connection::on_event(uint32_t events) {
  if (lingering_) return discard_input();
  if (reading_ && (events & (io::readable | io::hangup | io::error | io::peer_closed)))
    read_input();
  if (fd_) flush();
}

void qa_connection::read_input() {
  char buf[16 * 1024];
  for (int i = 0; i < read_budget && reading_; ++i) {
    // Questions that waited while the output was full come first: they may
    // be all the client sends until it has their answers.
    answer_questions();
    if (!reading_) return;
    if (full_) return;  // answer_questions paused reading; flush() resumes it
    io_result r = read_some(fd_.get(), buf, sizeof buf);
    if (r.would_block()) return;
    if (r.failed()) return close();
    if (r.eof()) return finish_after_flush();
    moved_ = svc_.owner().now();
    in_.append(buf, r.bytes);
    answer_questions();
    // Level-triggered: the loop reports the rest next turn. Edge-triggered:
    // read on until EAGAIN. A short read is no proof the socket is empty:
    // the peer's FIN may have come with the data, in the same edge.
    if (trig_ == trigger::level) return;
  }
  // Edge-triggered and the budget ran out: no new edge will come for the
  // bytes still queued, so come back on a later turn.
  if (reading_ && trig_ == trigger::edge) schedule_read();
}

void qa_connection::answer_questions() {
  std::string_view rest = in_;
  const std::size_t owed_before = out_.size();
  // Up to the output limit: one 16 KiB read of "?" is 16,384 questions and
  // 393 KiB of answers, and answering all at once took the output to about
  // 650 KiB against a limit of 256. The rest wait in `in_`, which grows no
  // further while reading is paused.
  full_ = false;
  for (;;) {
    qa_frame f = next_question(rest);
    if (f.what == qa_frame::need_more) {
      // Leading whitespace goes now: it counts towards no question's limit,
      // and kept, it grew without bound and was scanned again every read.
      rest.remove_prefix(f.consumed);
      break;
    }
    const bool last = f.what == qa_frame::too_long;
    std::string_view answer = last ? too_long_answer : svc_.answers().answer(f.text);
    if (!out_.empty() && out_.size() + answer.size() > output_limit) {
      // Held back, unread, until the output drains: flush() comes back for
      // it then, as no readiness event may (the client may send no more).
      full_ = true;
      read_paused_ = reading_;
      break;
    }
    rest.remove_prefix(f.consumed);
    out_ += answer;
    if (last) {
      // What follows is never read. The caller flushes.
      stop_reading(true);
      rest = {};
      break;
    }
  }
  progress_.wrote(out_.size() - owed_before);
  in_.erase(0, in_.size() - rest.size());
  release_if_empty(in_);
}

void qa_connection::flush() {
  // Once lingering, only discard_input and the linger timer act. A second
  // flush here used to arm a second linger timer that outlived the
  // connection (a use-after-free found by ASan under load).
  if (!fd_ || lingering_) return;
  for (;;) {
    // Closing, the questions held back at the output limit are owed too.
    if (closing_ && full_) answer_questions();
    if (out_.empty()) break;
    io_result r = write_some(fd_.get(), out_.data(), out_.size());
    if (r.would_block()) break;
    if (r.failed()) return close();
    moved_ = svc_.owner().now();
    out_.erase(0, r.bytes);
  }
  release_if_empty(out_);
  if (out_.empty() && closing_) {
    if (!linger_) return close();
    lingering_ = true;
    shutdown_write(fd_.get());
    linger_timer_ = svc_.owner().run_after(linger_look, [this] { end_linger(SIZE_MAX); });
    watcher_.set_events(io::readable);
    return discard_input();
  }
  arm();
  // Reading paused at the output limit: go back for the questions that
  // waited in `in_`, which no readiness event announces, and (edge
  // triggering) for the bytes that came meanwhile, which send no new edge.
  if (read_paused_ && out_.size() < output_limit / 2) {
    read_paused_ = false;
    schedule_read();
  }
}

// Comes back on a later turn for input no readiness event will announce:
// questions to read, or (lingering) bytes to discard.
void qa_connection::schedule_read() {
  svc_.owner().defer([this] {
    if (fd_ && (reading_ || lingering_)) on_event(io::readable);
  });
}

void qa_connection::arm() {
  uint32_t want = 0;
  if (reading_ && !full_) want |= io::readable;
  if (!out_.empty()) want |= io::writable;
  watcher_.set_events(want);
}

void qa_connection::discard_input() {
  char sink[16 * 1024];
  // The read budget, as for questions: a client that sends faster than
  // this discards must not hold the loop, nor keep the linger timer from
  // ending it. Unbudgeted, probes on other connections stalled for up to
  // 163 ms (found by review).
  for (int i = 0; i < read_budget; ++i) {
    io_result r = read_some(fd_.get(), sink, sizeof sink);
    if (r.would_block()) return;
    if (r.failed() || r.eof()) return close();
    discarded_ += r.bytes;
    // Past 1 MiB, once the answers have all reached the client: closed
    // before, the reset destroyed the ones still queued for a client that
    // went on asking while it read them (found by review).
    if (discarded_ > (1u << 20) && all_sent_acknowledged(fd_.get())) return close();
  }
  // Level-triggered, the loop reports the rest next turn; edge-triggered,
  // no new edge comes for what is queued.
  if (trig_ == trigger::edge) schedule_read();
}

void qa_connection::end_linger(std::size_t last) noexcept {
  linger_timer_ = no_timer;
  bool first_look = last == SIZE_MAX;
  peer_intake seen = look_at_intake(fd_.get(), last);
  if (seen == peer_intake::taking && first_look) {
    try {
      linger_timer_ = svc_.owner().run_after(linger_look, [this, last] { end_linger(last); });
      return;
    } catch (const std::bad_alloc&) {
      // no second look: closed as it is
    }
  }
  if (seen == peer_intake::stalled) reset_when_closed(fd_.get());
  close();
}

void qa_connection::stop_reading(bool linger) noexcept {
  reading_ = false;
  closing_ = true;
  linger_ = linger_ || linger;
}

void qa_connection::finish_after_flush(bool linger) {
  stop_reading(linger);
  if (fd_ && !lingering_) flush();
}

void qa_connection::close() noexcept {
  if (!fd_) return;
  if (linger_timer_ != no_timer) svc_.owner().cancel(std::exchange(linger_timer_, no_timer));
  watcher_.stop();
  fd_.reset();
  svc_.release(this);
}

}  // namespace

int run_qa(const common_options& opts, const qa_options& qa) {
  auto table = std::make_shared<const answer_table>(
      qa.answers_file ? answer_table::load(*qa.answers_file) : answer_table::builtin());
  return run_server("qa", opts, [&opts, table, &qa](loop& l, tcp_listener li) {
    return std::make_unique<qa_service>(l, std::move(li), table, opts.trigger_mode(),
                                        seconds(qa.idle_timeout));
  });
}

}  // namespace weft::app
