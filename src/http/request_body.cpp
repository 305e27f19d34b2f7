#include "http/request_body.hpp"

#include <weft/http/message.hpp>

#include <weft/task/sleep.hpp>

#include <algorithm>
#include <coroutine>
#include <stdexcept>

namespace weft::http {
namespace detail {

namespace {
chunked_limits limits_for(std::uint64_t max_body) {
  chunked_limits l;
  l.max_body = max_body;
  return l;
}
}  // namespace

body_source::body_source(tcp_stream& s, deadline& dl, weft::detail::task_context& owner,
                         const request_head& head, const server_options& opts,
                         std::uint64_t max_body, duration body_timeout)
    : s_(s),
      dl_(dl),
      owner_(owner),
      opts_(opts),
      timeout_(body_timeout),
      left_(head.body == body_kind::content_length ? head.content_length : 0),
      chunked_(head.body == body_kind::chunked),
      continue_due_(head.expect_continue),
      decoder_(limits_for(max_body)) {
  if (chunked_) storage_ = std::make_unique<std::array<header_field, 100>>();
}

std::string_view body_source::take_buffered() {
  // Body bytes that came without waiting: the client did not wait for a
  // 100 Continue, and one now would be noise (RFC 9110 §10.1.1 lets it go).
  if (!s_.buffered().empty()) continue_due_ = false;
  if (!chunked_) {
    if (left_ == 0) {
      done_ = true;
      return {};
    }
    std::string_view have = s_.buffered();
    std::string_view piece =
        have.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(have.size(), left_)));
    left_ -= piece.size();
    taken_ = piece.size();
    return piece;
  }
  for (;;) {
    chunk_result r = decoder_.decode(s_.buffered(), *storage_);
    switch (r.state) {
      case chunk_result::body:
        // Handed out in place, and consumed, framing and all, at the next
        // call: the piece is a view into those bytes.
        taken_ = r.consumed;
        return r.data;
      case chunk_result::complete:
        trailers_.copy(r.trailers);
        s_.consume(r.consumed);
        done_ = true;
        return {};
      case chunk_result::error:
        failed_ = r.status;
        return {};
      case chunk_result::incomplete:
        s_.consume(r.consumed);  // the framing read so far; the decoder holds its state
        return {};
    }
  }
}

std::string_view body_source::next_buffered() {
  s_.consume(taken_);
  taken_ = 0;
  if (done_ || failed_ != 0) return {};
  return take_buffered();
}

namespace {
// The context of the green thread that awaits it, without suspending.
struct own_context {
  weft::detail::task_context* ctx = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    ctx = weft::detail::context_of(h);
    return false;
  }
  weft::detail::task_context* await_resume() const noexcept { return ctx; }
};
}  // namespace

task<int> body_source::next(std::string_view& piece) {
  piece = {};
  // The reads wait under the connection's deadline, which cancels only its
  // own green thread's waits. Read from another, the body timeout cancelled
  // the handler's wait instead, and the reader could outlive the body.
  if (co_await own_context{} != &owner_)
    throw std::logic_error("request body: read from a green thread other than its handler's");
  if (until_ == time_point::max()) until_ = saturating_add(s_.owner().now(), timeout_);
  // The most a read may buffer: a piece is handed out as soon as any of it
  // is in, so a fast client never makes the buffer grow past this.
  std::size_t cap = std::size_t{64} * 1024 + opts_.limits.max_head;
  try {
    for (;;) {
      // Handed out without a suspension, each piece nests its reader's next
      // read one call deeper where symmetric transfer is no tail call (-O0):
      // 12,000 one-byte chunks overflowed an ASan build's stack. After 32
      // the loop gets a turn, as serve() gives it for pipelined requests:
      // before the next piece is taken, since a cancelled task's yield
      // throws and the piece would be lost with it.
      if (ready_in_a_row_ == 32) {
        ready_in_a_row_ = 0;
        co_await yield_now();
      }
      piece = next_buffered();
      if (!piece.empty()) {
        ++ready_in_a_row_;
        co_return 0;
      }
      if (done_ || failed_ != 0) co_return failed_;
      ready_in_a_row_ = 0;
      if (continue_due_) {
        // Under the write timeout: the answers buffered before it go too,
        // and a client that stopped reading them must not hold the
        // connection
        // (http_server.a_client_that_stops_reading_is_cut_even_while_owed_a_100_continue).
        continue_due_ = false;
        // Cut by the handler's own timeout instead, it may be half sent:
        // nothing may follow it then (see the catch below).
        failed_ = -1;
        auto w = co_await timed<tcp_stream::write_op>{
            dl_, saturating_add(s_.owner().now(), opts_.write_timeout),
            s_.write_all("HTTP/1.1 100 Continue\r\n\r\n")};
        if (w != read_outcome::ok) co_return failed_;
        failed_ = 0;
      }
      auto r = co_await read_before(s_, dl_, until_, cap, opts_);
      if (r == read_outcome::eof) co_return failed_ = -1;
      if (r == read_outcome::timeout) co_return failed_ = 408;
    }
  } catch (const std::system_error& e) {
    // Cancelled by other than the body's deadline (timed() makes that a
    // timeout): a with_timeout of the handler's, or the connection's end.
    // Nothing was lost; the handler may read on. Taken for the client's
    // leaving, it ended the connection with nothing sent (found by review).
    // But for a cut 100 Continue (failed_ already -1): the connection's
    // framing may be torn, and its answer waited behind it for a client
    // that was not reading (found by review).
    if (e.code() != std::errc::operation_canceled) failed_ = -1;
    throw;
  }
}

}  // namespace detail

namespace {
const char* body_failure(int status) noexcept {
  switch (status) {
    case 400:
      return "request body: malformed chunked coding";
    case 408:
      return "request body: not all in before the body timeout";
    case 413:
      return "request body: larger than the route's limit";
    case 431:
      return "request body: trailer section too large";
    default:
      return "request body: the client closed the connection";
  }
}
}  // namespace

task<std::string_view> request::read_some() {
  if (source_ == nullptr || body_read_ == body_read::ignored) {  // a buffered body: all of it, once
    if (body_read_ == body_read::cut)
      throw std::logic_error("request body: read after its handler returned");
    std::string_view whole = body_read_ == body_read::whole ? body_ : std::string_view();
    body_read_ = body_read::given;
    co_return whole;
  }
  std::string_view piece;
  int status = co_await source_->next(piece);
  if (status != 0) throw body_error(status > 0 ? status : 0, body_failure(status));
  if (source_->done()) trailers_ = source_->trailers();
  co_return piece;
}

}  // namespace weft::http
