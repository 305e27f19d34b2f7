#pragma once
// How the server sends a response's body: what the output buffer could
// not take at once, a file, or a producer's stream, each write under the
// write timeout, and the answer logged with the bytes that left.
// Loop thread of the connection, in its green thread.

#include <weft/http/message.hpp>
#include <weft/http/server.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/context.hpp>
#include <weft/task/deadline.hpp>
#include <weft/task/task.hpp>

#include "http/access_log.hpp"

#include <cstddef>
#include <string_view>

namespace weft::http::detail {

// What one write timeout covers of a large body: a client that reads
// slowly but steadily is never cut (see send_rest).
constexpr std::size_t write_piece = std::size_t{256} * 1024;

// Adds `bytes` to the output. Past flush_limit() a write() sends, and may
// wait for room: then only up to `timeout`, so that a client that stopped
// reading cannot hold the connection (found by review for a streamed body's
// chunk-size line and last chunk, which were written without one). As in
// send_rest below, the timeout bounds each 256 KiB piece, not the whole:
// one 20 MiB chunk to a client reading steadily at 6 MB/s was cut after
// 8.5 MB under a 1 s timeout (found by review).
task<void> write_within(tcp_stream& s, std::string_view bytes, duration timeout);

// Sends what put_response left: a file body, a string body too large to
// copy into the output (`rest`), or output past flush_limit(); a client
// that stopped reading must not hold the connection past the write
// timeout. Logs the answer with the body bytes that left (nginx's
// $body_bytes_sent), what the output buffer took counting as sent: a file
// cut by the write timeout was logged with its whole length (found by
// review).
//
// The write timeout bounds each stall, not a whole response (nginx's
// send_timeout works the same way): a large body goes out in 256 KiB
// pieces, each given the full timeout, so a client that reads slowly but
// steadily is never cut, and one that stops reading is cut one timeout
// after its last progress. A 1 MiB body under a 0.5 s timeout was cut on a
// loaded ASan run although its reader never paused for long
// (test_a_reader_that_pauses_less_than_the_timeout_is_not_cut).
task<void> send_rest(tcp_stream& s, deadline& dl, const response& res, std::string_view rest,
                     bool sent_body, duration write_timeout, const access_log& log,
                     std::string_view line);

// Where a response's head lies in the stream's output buffer, which it
// waits in until the body's first write sends it.
struct buffered_head {
  std::size_t from, to;
};

// How a streamed body ended: whole; cut (the connection must end);
// unsent, its producer having failed before any of it left, its head
// withdrawn from the output for a 500 in its place; or gone, its client
// having gone before any of it left, its head withdrawn and nothing logged
// (the caller logs 499 and sends the answers owed before it).
enum class streamed { whole, cut, unsent, gone };

// Sends a streamed body (res.producer()) after its head, and logs the
// answer with the body bytes that left (nginx's $body_bytes_sent), unless
// it went unsent or gone. A failure of the connection itself, a write to it or
// the cancellation of `ctx`, the connection's green thread, is thrown.
// `*client_gone` (when given) is set by the caller's watch once the client
// has gone, having cancelled the producer: the body is then cut quietly, as
// no failure of the producer's, or, none of it sent, its head withdrawn
// (gone).
task<streamed> send_produced_body(tcp_stream& s, const response& res, bool chunked,
                                  buffered_head head, duration write_timeout, const access_log& log,
                                  std::string_view line, const weft::detail::task_context* ctx,
                                  const bool* client_gone = nullptr);

}  // namespace weft::http::detail
