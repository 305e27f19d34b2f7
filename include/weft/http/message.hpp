#pragma once
// request and response: what an HTTP handler sees and returns.
//
//   task<response> hello(request& req) {
//     co_return response::text("Hello, " + std::string(req.query_param("name").value_or("you")));
//   }
//
// A request's views (method, target, headers, body) are valid until the
// handler's task completes. Threading: one loop thread, one request.

#include <weft/core/unique_fd.hpp>
#include <weft/http/request_parser.hpp>
#include <weft/task/task.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::http {

class request {
 public:
  std::string_view method() const noexcept { return head_.method; }
  std::string_view target() const noexcept { return head_.target; }
  std::string_view path() const noexcept;   // the target up to '?' (not decoded)
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
  // The whole body, de-chunked.
  std::string_view body() const noexcept { return body_; }

  // A query parameter, percent-decoded ('+' is a space). First match wins.
  std::optional<std::string> query_param(std::string_view name) const;
  // A path parameter bound by the router (":id" in "/users/:id").
  std::string_view param(std::string_view name) const noexcept;

  // For the server: the parsed head and the body it read.
  request_head head_;
  std::string_view body_;
  std::span<const header_field> trailers_;
  std::vector<std::pair<std::string_view, std::string_view>> params_;
};

class body_writer;
// Produces a streamed body, one chunk per write (see body_writer).
using body_producer = std::function<task<void>(body_writer&)>;

class response {
 public:
  explicit response(int status = 200) : status_(status) {}
  static response text(std::string body, int status = 200);
  static response json(std::string body, int status = 200);

  response& status(int s) noexcept {
    status_ = s;
    return *this;
  }
  response& header(std::string name, std::string value);
  response& body(std::string b) {
    body_ = std::move(b);
    return *this;
  }
  response& content_type(std::string type) { return header("Content-Type", std::move(type)); }
  // A body produced while it is sent: chunked transfer coding for HTTP/1.1,
  // close-delimited for HTTP/1.0.
  response& stream(body_producer p) {
    producer_ = std::move(p);
    return *this;
  }
  // A body sent from a file with sendfile(2): `length` bytes from `offset`.
  response& file(unique_fd fd, std::uint64_t offset, std::uint64_t length) {
    file_ = std::move(fd);
    file_offset_ = offset;
    file_length_ = length;
    return *this;
  }
  const body_producer& producer() const noexcept { return producer_; }
  const unique_fd& file() const noexcept { return file_; }
  std::uint64_t file_offset() const noexcept { return file_offset_; }
  std::uint64_t file_length() const noexcept { return file_length_; }

  int status() const noexcept { return status_; }
  const std::string& body() const noexcept { return body_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const noexcept {
    return headers_;
  }
  // Close the connection after this response.
  response& close() noexcept {
    close_ = true;
    return *this;
  }
  bool closes() const noexcept { return close_; }

 private:
  int status_;
  bool close_ = false;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
  body_producer producer_;
  unique_fd file_;
  std::uint64_t file_offset_ = 0, file_length_ = 0;
};

// "OK", "Not Found", ...; "Unknown" for codes weft does not name.
std::string_view reason_phrase(int status) noexcept;

}  // namespace weft::http
