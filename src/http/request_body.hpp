#pragma once
// body_source: one request's body, read from its connection piece by piece:
// de-chunked, bounded by a limit and the body timeout, with the 100 Continue
// that "Expect: 100-continue" asks for sent before the first read that has
// to wait for the client, and only then. The server reads a buffered body
// through it, and request::read_some a streamed one: the two cannot differ
// in what they accept.
//
// Loop thread of the connection, and one green thread: the connection's
// own, whose deadline bounds the reads. It lives while its request is
// served.

#include <weft/http/chunked_decoder.hpp>
#include <weft/http/request_parser.hpp>
#include <weft/http/server.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/context.hpp>
#include <weft/task/deadline.hpp>

#include "http/connection_io.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace weft::http::detail {

class body_source {
 public:
  // The head's body framing (Content-Length or chunked) is read from
  // `head`, which must have one. `owner` is the green thread that may read
  // it: the one whose deadline `dl` is.
  body_source(tcp_stream& s, deadline& dl, weft::detail::task_context& owner,
              const request_head& head, const server_options& opts, std::uint64_t max_body,
              duration body_timeout);
  body_source(const body_source&) = delete;
  body_source& operator=(const body_source&) = delete;

  // The next piece already buffered, without waiting: a view into the
  // stream's buffer valid until the next call, which consumes it. Empty
  // when more must be read, or at the end (done()), or on a failure.
  std::string_view next_buffered();

  // The next piece, waiting for it when none is buffered, or an empty one
  // at the end. Returns 0, the status that ends the exchange (400, 408,
  // 413, 431), or -1 when the client went. A failure is final: later
  // calls return it again. The body timeout runs from the first call.
  // Throws what the stream throws: a reset (counted as -1), or a
  // cancellation, the green thread's or a with_timeout's (after which the
  // body may be read on). From another green thread: std::logic_error.
  task<int> next(std::string_view& piece);

  bool done() const noexcept { return done_; }
  int failed() const noexcept { return failed_; }
  // Once done: the trailer fields of a chunked body, copied out.
  std::span<const header_field> trailers() const noexcept { return trailers_.fields; }

 private:
  // A piece already buffered, or none; `failed_` set on a framing error.
  std::string_view take_buffered();

  tcp_stream& s_;
  deadline& dl_;
  weft::detail::task_context& owner_;
  const server_options& opts_;
  duration timeout_;
  time_point until_ = time_point::max();  // max: no read has waited yet
  std::uint64_t left_;                    // Content-Length bytes not yet handed out
  std::size_t taken_ = 0;                 // the last piece's bytes, consumed at the next call
  bool chunked_;
  bool continue_due_;  // a 100 Continue is owed before the first wait
  bool done_ = false;
  int failed_ = 0;
  int ready_in_a_row_ = 0;  // pieces next() handed out without a suspension
  chunked_decoder decoder_;
  owned_fields trailers_;
  // The decoder's trailer views, for a chunked body only: 3.2 KiB that a
  // body with a Content-Length would zero for nothing (found by review).
  std::unique_ptr<std::array<header_field, 100>> storage_;
};

}  // namespace weft::http::detail
