#pragma once
// request and response: what an HTTP handler sees and returns.
//
//   task<response> hello(request& req) {
//     co_return response::text("Hello, " + std::string(req.query_param("name").value_or("you")));
//   }
//
// A request's views (method, target, headers, body) are valid until the
// handler's task completes; body() and trailers() until its response has
// been sent, so that a streamed body's producer may send from them.
// Threading: one loop thread, one request.

#include <weft/core/unique_fd.hpp>
#include <weft/http/request_parser.hpp>
#include <weft/net/address.hpp>
#include <weft/task/task.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft {
class tcp_stream;
}  // namespace weft
namespace weft::detail {
struct response_lines;  // src/http/response_lines.hpp: weft's own unchecked lines
}
namespace weft::http::detail {
class body_source;  // src/http/request_body.hpp: a body read as it arrives
}

namespace weft::http {

// Why a request's body could not be read (request::read_some): status() is
// what the server answers once the handler returns, whatever it returns
// (400 a malformed chunk, 408 the body timeout, 413 past the route's
// max_body), or 0 when the client went and nothing can be answered. The
// connection closes after it.
class body_error : public std::runtime_error {
 public:
  body_error(int status, const char* what) : std::runtime_error(what), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

class request {
 public:
  std::string_view method() const noexcept { return head_.method; }
  std::string_view target() const noexcept { return head_.target; }
  // The target's path, up to "?" (not decoded); "/" for an absolute-form
  // target without one. Asterisk- and authority-form targets are whole.
  std::string_view path() const noexcept;
  std::string_view query() const noexcept;  // after '?', or empty
  int version_minor() const noexcept { return head_.version_minor; }
  std::string_view version() const noexcept {
    return head_.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
  }
  bool keep_alive() const noexcept { return head_.keep_alive; }

  // The first field with this name, case-insensitively.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  std::span<const header_field> headers() const noexcept { return head_.fields; }
  std::span<const header_field> trailers() const noexcept { return trailers_; }
  // The whole body, de-chunked; empty on a route that streams its body.
  std::string_view body() const noexcept { return body_; }
  // The body as it arrives, on a route added with stream_body: the next
  // piece, de-chunked (a view valid until the next call or the handler's
  // return), or an empty view once the body has ended, when trailers()
  // holds the trailer fields. On other routes the first call returns
  // body() whole, and later ones nothing. A handler may stop before the
  // end: what is already in is skipped, and a body still to come is never
  // read (the response says "Connection: close"). A streamed body is read
  // only from the handler's own green thread while it runs (the body
  // timeout cancels the wait there): from another, or after the handler
  // returned short of the end, std::logic_error. Throws body_error when the
  // body cannot be read, and std::system_error when the connection fails
  // or the read is cancelled (by a with_timeout of the handler's own: the
  // body may be read on after it).
  task<std::string_view> read_some();

  // A query parameter, percent-decoded ('+' is a space). First match wins; a
  // piece without '=' has an empty value (as WHATWG URL's parser reads it).
  std::optional<std::string> query_param(std::string_view name) const;
  // A path parameter bound by the router (":id" in "/users/:id"),
  // percent-decoded ("John%20Doe" is "John Doe"; '+' stays a plus). Not a
  // safe file name: "%2e%2e%2fetc" binds "../etc", and "%00" a NUL. A
  // handler that opens files by it checks it first (or serves them with
  // static_files, which confines them to its root).
  std::string_view param(std::string_view name) const noexcept;
  // The client's address, as the connection's socket says now (a
  // getpeername): nullopt for a request made off a connection (a test's),
  // or once the client has gone.
  std::optional<endpoint> peer() const;

  // For the server: the parsed head and the body it read.
  request_head head_;
  std::string_view body_;
  std::span<const header_field> trailers_;
  std::vector<std::pair<std::string_view, std::string_view>> params_;
  // The decoded bytes of parameters that had a '%' (most have none, and
  // point into the target). A vector, not a string: moving the request
  // keeps the views valid, which a string's inline buffer would not.
  std::vector<char> param_bytes_;
  detail::body_source* source_ = nullptr;  // on a streaming route, while its handler runs
  const tcp_stream* stream_ = nullptr;     // the connection it came on (peer())
  // What read_some has to give without a source: body_ (whole), nothing
  // more (given), or a refusal, once a handler has returned before the end
  // of the body it streamed (cut); and, source or not, nothing on a route
  // that ignores bodies (ignored): read through the source, a large one
  // had no limit at all (found by review).
  enum class body_read : std::uint8_t { whole, given, cut, ignored };
  body_read body_read_ = body_read::whole;
};

class body_writer;
// Produces a streamed body, one chunk per write (see body_writer).
using body_producer = std::function<task<void>(body_writer&)>;

// The header lines of a response, "Name: value\r\n" each, in the order
// set. Up to 256 bytes stay in place, so a typical response allocates
// nothing: in the pipelined benchmark a vector of string pairs cost two
// allocations per response (perf, when b1fc05c made this change). 256 holds a static
// file's lines (Content-Type, Accept-Ranges, ETag, Last-Modified, ~145
// bytes) with a Cache-Control and a Content-Range; at 96 they spilled into
// an allocated string. Kept inline, with the file's bytes shared instead of
// copied, a 1 KiB file response took 4,392 user-space instructions instead
// of 5,406 (the two measured together: SERVER=files DEPTH=1
// bench/http/instructions.sh).
class header_lines {
 public:
  header_lines() noexcept = default;
  // Moves copy only the bytes in use (a response is moved once or twice
  // per request). The source is left empty.
  header_lines(header_lines&& o) noexcept : size_(o.size_), spill_(std::move(o.spill_)) {
    if (spill_.empty()) std::memcpy(small_, o.small_, size_);
    o.size_ = 0;
    o.spill_.clear();
  }
  header_lines& operator=(header_lines&& o) noexcept {
    if (this == &o) return *this;
    size_ = o.size_;
    spill_ = std::move(o.spill_);
    if (spill_.empty()) std::memmove(small_, o.small_, size_);
    o.size_ = 0;
    o.spill_.clear();
    return *this;
  }
  ~header_lines() = default;

  void append(std::string_view name, std::string_view value);
  std::string_view view() const noexcept {
    return spill_.empty() ? std::string_view(small_, size_) : std::string_view(spill_);
  }
  // The value of the first line named `name`, case-insensitively.
  std::optional<std::string_view> find(std::string_view name) const noexcept;
  // Drops every line named `name`, case-insensitively.
  void remove(std::string_view name) noexcept;

 private:
  friend class response;
  friend struct weft::detail::response_lines;
  // append's body, inline for response's setters (message.cpp, its only user).
  inline void put(std::string_view name, std::string_view value);
  // Whole lines, each ending in CRLF, that weft built and checked itself.
  void append_lines(std::string_view lines);

  // The lines are small_'s first size_ bytes while spill_ is empty, and
  // spill_ once they outgrow small_ (size_ then means nothing, so it is
  // zeroed whenever spill_ empties again).
  char small_[256];
  std::uint32_t size_ = 0;
  std::string spill_;
};

// Setters chain, on a named response or on a temporary; a chain on a
// temporary yields it as an rvalue, so that it can be returned:
//   return response(201).header("Location", "/items/7").body("{}");
class response {
 public:
  explicit response(int status = 200) : status_(status) {}
  static response text(std::string body, int status = 200);
  static response json(std::string body, int status = 200);

  response& status(int s) & noexcept {
    status_ = s;
    return *this;
  }
  response&& status(int s) && noexcept { return std::move(status(s)); }
  // Adds a header line. The server frames the message, so Content-Length,
  // Transfer-Encoding and Connection are refused, as is a name that is not
  // a token or a value with a control byte such as CR, LF or NUL (header
  // injection): all throw std::invalid_argument. The value's leading and
  // trailing SP and HTAB are dropped. A Date set here replaces the
  // server's, and a second one the first.
  response& header(std::string_view name, std::string_view value) &;
  response&& header(std::string_view name, std::string_view value) && {
    return std::move(header(name, value));
  }
  // Sets the Content-Type, replacing one set before (by text(), json(),
  // content_type() or header()): a response has one.
  response& content_type(std::string_view type) &;
  response&& content_type(std::string_view type) && { return std::move(content_type(type)); }
  // A response has one body: each of body(), stream() and file() replaces
  // whichever was set before.
  response& body(std::string b) & {
    // A swap, not a move assignment: ~30 instructions less per response
    // (1,328 -> 1,298 per pipelined hello, bench/http/instructions.sh). The
    // old body leaves with `b`.
    body_.swap(b);
    if (shared_) shared_.reset();  // the test: ~4 instructions less (measured)
    if (producer_ || file_) drop_other_bodies();
    return *this;
  }
  response&& body(std::string b) && { return std::move(body(std::move(b))); }
  // A body that shares immutable bytes, such as a cached file's: `length`
  // bytes from `offset` (clamped to the bytes), with no copy. The response
  // holds `bytes` until it is destroyed, so they outlive a cache that drops
  // them while the body is still being sent.
  response& body(std::shared_ptr<const std::string> bytes, std::size_t offset,
                 std::size_t length) & {
    std::string_view all = bytes ? std::string_view(*bytes) : std::string_view();
    shared_view_ = all.substr(std::min(offset, all.size()), length);
    shared_ = std::move(bytes);
    body_.clear();
    drop_other_bodies();
    return *this;
  }
  response&& body(std::shared_ptr<const std::string> bytes, std::size_t offset,
                  std::size_t length) && {
    return std::move(body(std::move(bytes), offset, length));
  }
  // A body produced while it is sent: chunked transfer coding for HTTP/1.1,
  // close-delimited for HTTP/1.0. Without a producer, invalid_argument, as
  // for file(): it went out as an empty 200 without a word (found by an
  // audit).
  response& stream(body_producer p) & {
    if (!p) throw std::invalid_argument("response::stream: no producer");
    drop_bodies();
    producer_ = std::move(p);
    return *this;
  }
  response&& stream(body_producer p) && { return std::move(stream(std::move(p))); }
  // A produced body of a known `length`, sent with Content-Length, so that
  // an HTTP/1.0 client keeps the connection and any client sees a short
  // body as cut. The producer writes exactly `length` bytes: a write past
  // it throws std::length_error having written nothing, and a producer that
  // ends short (or throws after writing) cuts the connection, as Go's
  // ResponseWriter does with a declared Content-Length. A HEAD request gets
  // the length and the producer is not run. Without a producer,
  // invalid_argument: nothing would send the bytes the head announced.
  response& stream(body_producer p, std::uint64_t length) & {
    if (!p) throw std::invalid_argument("response::stream: a length without a producer");
    stream(std::move(p));
    sized_ = true;
    stream_length_ = length;
    return *this;
  }
  response&& stream(body_producer p, std::uint64_t length) && {
    return std::move(stream(std::move(p), length));
  }
  // A body sent from a file with sendfile(2): `length` bytes from `offset`.
  // Without an open descriptor (a failed open() handed on), invalid_argument:
  // it was sent as an empty 200 without a word (found by review). So too
  // for a range that ends past the largest file offset (off_t's): its end
  // wrapped, and a length never sent framed the next answer as this body
  // (found by an audit).
  response& file(unique_fd fd, std::uint64_t offset, std::uint64_t length) & {
    if (!fd) throw std::invalid_argument("response::file: no open descriptor");
    return file(std::make_shared<const unique_fd>(std::move(fd)), offset, length);
  }
  response&& file(unique_fd fd, std::uint64_t offset, std::uint64_t length) && {
    return std::move(file(std::move(fd), offset, length));
  }
  // The same from a descriptor that others share, such as one a file cache
  // keeps open: the response holds it until it is destroyed, so it stays
  // open while the body is sent however soon the cache lets go of it.
  // sendfile(2) reads at an offset of its own, never the descriptor's, so
  // responses sharing one do not race. Sharing saved a dup and a close per
  // response of `weft files` (~3.5% of its core on a 16 KiB file, perf).
  response& file(std::shared_ptr<const unique_fd> fd, std::uint64_t offset,
                 std::uint64_t length) & {
    if (!fd || !*fd) throw std::invalid_argument("response::file: no open descriptor");
    constexpr auto max_end = static_cast<std::uint64_t>(INT64_MAX);
    if (offset > max_end || length > max_end - offset)
      throw std::invalid_argument("response::file: the range ends past the largest file offset");
    drop_bodies();
    file_ = std::move(fd);
    file_offset_ = offset;
    file_length_ = length;
    return *this;
  }
  response&& file(std::shared_ptr<const unique_fd> fd, std::uint64_t offset,
                  std::uint64_t length) && {
    return std::move(file(std::move(fd), offset, length));
  }
  const body_producer& producer() const noexcept { return producer_; }
  // The length given to stream(p, length), or none for a chunked stream
  // (or a response whose producer has been moved out).
  std::optional<std::uint64_t> stream_length() const noexcept {
    return sized_ && producer_ ? std::optional<std::uint64_t>(stream_length_) : std::nullopt;
  }
  // The body's descriptor; an empty one when the body is not a file.
  const unique_fd& file() const noexcept { return file_ ? *file_ : no_file(); }
  std::uint64_t file_offset() const noexcept { return file_offset_; }
  std::uint64_t file_length() const noexcept { return file_length_; }

  int status() const noexcept { return status_; }
  std::string_view body() const noexcept {
    return shared_ ? shared_view_ : std::string_view(body_);
  }
  // The header lines set, each ending in CRLF.
  std::string_view header_block() const noexcept { return headers_.view(); }
  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return headers_.find(name);
  }
  bool sets_date() const noexcept { return sets_date_; }
  // Close the connection after this response.
  response& close() & noexcept {
    close_ = true;
    return *this;
  }
  response&& close() && noexcept { return std::move(close()); }
  bool closes() const noexcept { return close_; }

 private:
  friend struct weft::detail::response_lines;
  // The producer and the file, which body() drops; drop_bodies(), for
  // stream() and file(), drops the string and shared bodies too.
  void drop_other_bodies() noexcept {
    producer_ = nullptr;
    sized_ = false;
    file_.reset();
    file_offset_ = file_length_ = 0;
  }
  void drop_bodies() noexcept {
    body_.clear();
    shared_.reset();
    drop_other_bodies();
  }
  int status_;
  bool close_ = false;
  bool sets_date_ = false;
  bool typed_ = false;  // a Content-Type line is set
  bool sized_ = false;  // the producer's length is stream_length_
  header_lines headers_;
  std::string body_;
  std::shared_ptr<const std::string> shared_;  // with shared_view_: a shared body
  std::string_view shared_view_;
  body_producer producer_;
  std::uint64_t stream_length_ = 0;
  static const unique_fd& no_file() noexcept;
  std::shared_ptr<const unique_fd> file_;
  std::uint64_t file_offset_ = 0, file_length_ = 0;
};

// "OK", "Not Found", ...: the phrases of RFC 9110 §15 and of the other
// codes in common use; "Unknown" for the rest.
std::string_view reason_phrase(int status) noexcept;

}  // namespace weft::http
