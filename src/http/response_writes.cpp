#include "http/response_writes.hpp"

#include <weft/core/log.hpp>
#include <weft/net/errors.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/timeout.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace weft::http {
namespace detail {
namespace {

// Sends a file body in slices, each bounded by the write timeout: a client
// that stops reading is cut, however large the file. A client that reads
// as fast as sendfile writes never makes the socket say EAGAIN, so the send
// would never wait and never let the loop run; after each slice the task
// yields, so other connections on the loop are served between slices
// (DESIGN-NOTES §6). The slice sets the download's share of a busy loop:
// with 100 small-file clients and one 1 GiB download on one core
// (bench/files, mixed), 512 KiB slices gave the small requests a p99 1.7x
// their p99 without the download, at 770 MB/s; 256 KiB gave 1.16x at
// 550 MB/s, and 128 KiB 1.18x at 280 MB/s.
// `sent` counts the bytes that have left, for the access log.
task<void> send_file_body(tcp_stream& s, deadline& dl, const response& res, duration write_timeout,
                          std::uint64_t& sent) {
  constexpr std::uint64_t slice = write_piece;
  std::uint64_t offset = res.file_offset(), end = res.file_offset() + res.file_length();
  while (offset < end) {
    std::uint64_t n = std::min(slice, end - offset);
    dl.expires_after(write_timeout);
    try {
      co_await s.send_file(res.file().get(), offset, n);
    } catch (const std::system_error& e) {
      // The file ended short of its announced length (truncated while it
      // was sent): the body is cut, and said so with a reset, as every cut
      // body is. A FIN passed for its end (found by review).
      if (e.code() == net_errc::unexpected_eof) s.abort();
      throw;
    }
    dl.clear();
    offset += n;
    sent += n;
    if (offset < end) co_await yield_now();
  }
}

// Logs an answer once, however its sending ends: done, failed, or its frame
// destroyed at a shutdown's deadline, which runs no catch: an answer cut
// there went unlogged (found by an audit). `bytes` says what has left.
template <class Bytes>
class log_on_exit {
 public:
  log_on_exit(const access_log& log, std::string_view line, int status, Bytes bytes) noexcept
      : log_(log), line_(line), status_(status), bytes_(bytes) {}
  log_on_exit(const log_on_exit&) = delete;
  log_on_exit& operator=(const log_on_exit&) = delete;
  ~log_on_exit() {
    if (dismissed_) return;
    try {
      log_.write(line_, status_, bytes_());
    } catch (...) {
      // no memory for the line: the answer goes unlogged
    }
  }
  // Another line will stand for this answer (a 500 in its place).
  void dismiss() noexcept { dismissed_ = true; }

 private:
  const access_log& log_;
  std::string_view line_;
  int status_;
  Bytes bytes_;
  bool dismissed_ = false;
};

// Resets the connection if the body's sending ends in between: an
// exception, or its frame destroyed at a shutdown's deadline, where the
// stream's close would be a FIN. After a FIN a close-delimited body looks
// whole (RFC 9112 §8), and a sized one is reset when cut any other way
// (found by review). A chunked body lacks its last chunk, which the client
// sees, and is not armed.
class reset_if_cut {
 public:
  reset_if_cut(tcp_stream& s, bool armed) noexcept : s_(s), armed_(armed) {}
  reset_if_cut(const reset_if_cut&) = delete;
  reset_if_cut& operator=(const reset_if_cut&) = delete;
  ~reset_if_cut() {
    if (armed_) s_.abort();
  }
  void dismiss() noexcept { armed_ = false; }

 private:
  tcp_stream& s_;
  bool armed_;
};

// Runs a streamed body's producer: what it threw, or null. A failure of
// the connection itself, a write to it (w.broken()) or its cancellation, is
// rethrown, to end the connection quietly; anything else, whatever its
// code (a backend's timeout or reset), is the producer's own failure.
task<std::exception_ptr> run_producer(const body_producer& produce, body_writer& w,
                                      const weft::detail::task_context* ctx) {
  try {
    co_await produce(w);
  } catch (...) {
    if (w.broken() || (ctx && ctx->root_cancelled)) throw;
    co_return std::current_exception();
  }
  co_return nullptr;
}

}  // namespace

task<void> write_within(tcp_stream& s, std::string_view bytes, duration timeout) {
  if (s.buffered_output() + bytes.size() < s.flush_limit()) {
    co_await s.write(bytes);  // stays buffered: never waits
    co_return;
  }
  do {
    std::string_view now = bytes.substr(0, write_piece);
    co_await with_timeout(timeout, s.write_all(now));
    bytes.remove_prefix(now.size());
  } while (!bytes.empty());
}

task<void> send_rest(tcp_stream& s, deadline& dl, const response& res, std::string_view rest,
                     bool sent_body, duration write_timeout, const access_log& log,
                     std::string_view line) {
  std::uint64_t sent = sent_body && !res.file() ? res.body().size() - rest.size() : 0;
  log_on_exit logged(log, line, res.status(), [&sent] { return sent; });
  // Cut in between, at a shutdown's deadline too, the body ends with a
  // reset, as at the write timeout: its frame destroyed, the stream's close
  // was a FIN, which waited behind what the client had not taken, the
  // kernel sending it on after the server had gone (found by review).
  reset_if_cut unfinished(s, true);
  if (sent_body && res.file()) {
    co_await send_file_body(s, dl, res, write_timeout, sent);
  } else {
    do {
      std::string_view now = rest.substr(0, write_piece);
      dl.expires_after(write_timeout);
      co_await s.write_all(now);
      dl.clear();
      rest.remove_prefix(now.size());
      sent += now.size();
    } while (!rest.empty());
  }
  unfinished.dismiss();
}

task<streamed> send_produced_body(tcp_stream& s, const response& res, bool chunked,
                                  buffered_head head, duration write_timeout, const access_log& log,
                                  std::string_view line, const weft::detail::task_context* ctx,
                                  const bool* client_gone) {
  std::optional<std::uint64_t> length = res.stream_length();
  body_writer w(s, chunked, write_timeout, length.value_or(UINT64_MAX));
  // The client went, or shutdown cut it: logged all the same.
  log_on_exit logged(log, line, res.status(), [&w] { return w.bytes_written(); });
  reset_if_cut unfinished(s, !chunked);
  std::exception_ptr failed;
  try {
    failed = co_await run_producer(res.producer(), w, ctx);
  } catch (...) {
    // A write that failed once its client had gone (the producer caught the
    // cancel and wrote on): cut below, with a reset, not a plain close that
    // makes a close-delimited body look whole (found by review).
    if (!client_gone || !*client_gone || (ctx && ctx->root_cancelled)) throw;
  }
  unfinished.dismiss();  // what follows ends the body, or cuts it, itself
  // Nothing of the body has left (the head waits in the buffer until the
  // first write, and a write that failed may have sent part of what was
  // buffered): the head is withdrawn, and another line stands for it.
  auto withdraw_head = [&] {
    if (w.bytes_written() != 0 || w.broken() || s.buffered_output() != head.to) return false;
    s.truncate_output(head.from);
    logged.dismiss();
    return true;
  };
  // Its client went while it waited: the cancel (or its return after
  // catching that, which cannot be told from a body done) is nobody's
  // failure, and no one is left to answer, so the body is cut, never ended
  // as if whole (a last chunk, or a FIN after a close-delimited body). None
  // of it sent: gone, and the answers owed before it still go (the
  // caller's; a reset dropped them, found by review).
  if (client_gone && *client_gone) {
    if (withdraw_head()) co_return streamed::gone;
    s.abort();
    co_return streamed::cut;
  }
  // Short of its length: the producer's failure, unless it returned after
  // the connection failed or was cancelled (and caught that), which ends
  // the connection quietly, as a chunked stream does (found by review).
  bool cut_short = length && w.bytes_written() != *length;
  if (cut_short && !failed && !w.broken() && !(ctx && ctx->root_cancelled)) {
    failed =
        std::make_exception_ptr(std::length_error("wrote " + std::to_string(w.bytes_written()) +
                                                  " of its " + std::to_string(*length) + " bytes"));
  }
  if (failed) {
    log_error({"http body producer failed: "}, failed);
    // Nothing of it has left: a 500 after the answers before it, logged in
    // its place. It was dropped, and them with it.
    if (withdraw_head()) co_return streamed::unsent;
  }
  // Cut short: a chunked body lacks its last chunk, which the client sees;
  // a close-delimited one would look whole after a FIN, and a sized one is
  // reset rather than left to the client's count of its bytes. A write
  // failed and the producer caught it (w.broken()): the body is cut all
  // the same. It was ended as if whole, and the next pipelined answer
  // followed it on the same connection (found by review).
  if (failed || w.broken() || cut_short) {
    if (!chunked) s.abort();
    co_return streamed::cut;
  }
  if (chunked) co_await write_within(s, "0\r\n\r\n", write_timeout);
  co_return streamed::whole;
}

}  // namespace detail

task<void> body_writer::write(std::string_view data) {
  // After a failed write the body is cut, whatever the producer made of
  // the exception: nothing more may join it.
  if (broken_)
    throw std::system_error(std::make_error_code(std::errc::broken_pipe),
                            "body_writer: an earlier write failed");
  if (data.empty()) co_return;  // an empty chunk would end the body
  if (data.size() > limit_ - bytes_)
    throw std::length_error("body_writer: a write past the response's Content-Length");
  try {
    if (chunked_) {
      char size[24];
      int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
      co_await detail::write_within(*s_, std::string_view(size, static_cast<std::size_t>(n)),
                                    timeout_);
    }
    co_await detail::write_within(*s_, data, timeout_);
    if (chunked_) co_await detail::write_within(*s_, "\r\n", timeout_);
    // A streamed body is for data that is not all ready (progress, events):
    // this piece must not wait in the buffer while the producer waits for
    // the next
    // (http_server.each_streamed_chunk_reaches_the_client_before_the_producer_waits).
    // Every write_piece bytes the flush gives the loop a turn first, as a
    // file body gets one between its slices: a socket that took each write
    // at once never made the producer wait, and weft inspect's 48 MB answers
    // held the other connections on their loop for ~100 ms each (found by a
    // chaos run). A turn inside the flush, not a yield_now: the stream is
    // still writing then, so a client that half-closed is not taken for gone.
    constexpr std::size_t piece = detail::write_piece;
    if ((bytes_ + data.size()) / piece != bytes_ / piece) s_->yield_before_next();
    co_await with_timeout(timeout_, s_->flush());
  } catch (...) {
    broken_ = true;
    throw;
  }
  bytes_ += data.size();
}

}  // namespace weft::http
