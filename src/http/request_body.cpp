#include "http/request_body.hpp"

#include <weft/http/message.hpp>

#include <algorithm>
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

body_source::body_source(tcp_stream& s, deadline& dl, const request_head& head,
                         const server_options& opts, std::uint64_t max_body)
    : s_(s),
      dl_(dl),
      opts_(opts),
      until_(saturating_add(s.owner().now(), opts.body_timeout)),
      left_(head.body == body_kind::content_length ? head.content_length : 0),
      chunked_(head.body == body_kind::chunked),
      continue_due_(head.expect_continue),
      decoder_(limits_for(max_body)) {}

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
    chunk_result r = decoder_.decode(s_.buffered(), storage_);
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

// Under the write timeout: the answers buffered before it go too, and a
// client that stopped reading them must not hold the connection
// (http_server.a_client_that_stops_reading_is_cut_even_while_owed_a_100_continue).
task<void> body_source::send_continue() {
  continue_due_ = false;
  dl_.expires_after(opts_.write_timeout);
  co_await s_.write_all("HTTP/1.1 100 Continue\r\n\r\n");
  dl_.clear();
}

bool body_source::finish_buffered() {
  s_.consume(taken_);
  taken_ = 0;
  if (!done_ && failed_ == 0) (void)take_buffered();
  return done_;
}

task<int> body_source::next(std::string_view& piece) {
  piece = {};
  if (reading_) throw std::logic_error("request body: one read at a time");
  s_.consume(taken_);
  taken_ = 0;
  if (failed_ != 0 || done_) co_return failed_;
  reading_ = true;
  struct unmark {
    bool& reading;
    ~unmark() { reading = false; }
  } guard{reading_};
  // The most a read may buffer: a piece is handed out as soon as any of it
  // is in, so a fast client never makes the buffer grow past this.
  std::size_t cap = std::size_t{64} * 1024 + opts_.limits.max_head;
  try {
    for (;;) {
      piece = take_buffered();
      if (!piece.empty() || done_ || failed_ != 0) co_return failed_;
      if (continue_due_) co_await send_continue();
      auto r = co_await read_before(s_, dl_, until_, cap, opts_);
      if (r == read_outcome::eof) co_return failed_ = -1;
      if (r == read_outcome::timeout) co_return failed_ = 408;
    }
  } catch (...) {
    failed_ = -1;  // the stream failed, or the green thread was cancelled
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
  if (source_ == nullptr) {  // a buffered body: all of it, once
    std::string_view whole = body_given_ ? std::string_view() : body_;
    body_given_ = true;
    co_return whole;
  }
  std::string_view piece;
  int status = co_await source_->next(piece);
  if (status != 0) throw body_error(status > 0 ? status : 0, body_failure(status));
  if (source_->done()) trailers_ = source_->trailers();
  co_return piece;
}

}  // namespace weft::http
