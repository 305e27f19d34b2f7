#pragma once
// body_source: one request's body, read from its connection piece by piece:
// de-chunked, bounded by a limit and the body timeout, with the 100 Continue
// that "Expect: 100-continue" asks for sent before the first read that has
// to wait for the client, and only then. The server reads a buffered body
// through it, and request::read_some a streamed one: the two cannot differ
// in what they accept.
//
// Loop thread of the connection; one read at a time. It lives in the
// connection's frame while its request is served.

#include <weft/http/chunked_decoder.hpp>
#include <weft/http/request_parser.hpp>
#include <weft/http/server.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/deadline.hpp>

#include "http/connection_io.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace weft::http::detail {

class body_source {
 public:
  // The head's body framing (Content-Length or chunked) is read from
  // `head`, which must have one. The body timeout runs from now.
  body_source(tcp_stream& s, deadline& dl, const request_head& head, const server_options& opts,
              std::uint64_t max_body);
  body_source(const body_source&) = delete;
  body_source& operator=(const body_source&) = delete;

  // The next piece, a view into the stream's buffer valid until the next
  // call, or an empty one at the end. Returns 0, the status that ends the
  // exchange (400, 408, 413, 431), or -1 when the client went. A failure
  // is final: later calls return it again. Throws what the stream throws
  // (a reset, the green thread's cancellation), and counts that as -1.
  task<int> next(std::string_view& piece);

  // After the handler: drops the last piece handed out and decodes what
  // follows it in the buffer, without reading. True when that ends the
  // body (a handler that stopped at its last byte read all of it).
  bool finish_buffered();

  bool done() const noexcept { return done_; }
  int failed() const noexcept { return failed_; }
  // Once done: the trailer fields of a chunked body, copied out.
  std::span<const header_field> trailers() const noexcept { return trailers_.fields; }

 private:
  // A piece already buffered, or none; `failed_` set on a framing error.
  std::string_view take_buffered();
  task<void> send_continue();

  tcp_stream& s_;
  deadline& dl_;
  const server_options& opts_;
  time_point until_;
  std::uint64_t left_;     // Content-Length bytes not yet handed out
  std::size_t taken_ = 0;  // the last piece's bytes, consumed at the next call
  bool chunked_;
  bool continue_due_;  // a 100 Continue is owed before the first wait
  bool done_ = false;
  bool reading_ = false;
  int failed_ = 0;
  chunked_decoder decoder_;
  owned_fields trailers_;
  std::array<header_field, 100> storage_;  // the decoder's trailer views
};

}  // namespace weft::http::detail
