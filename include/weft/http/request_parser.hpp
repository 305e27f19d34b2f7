#pragma once
// The HTTP/1.1 request-head parser: a pure function of bytes (RFC 9112).
//
//   std::array<weft::http::header_field, 100> storage;
//   weft::http::request_head head;
//   weft::http::parse_state state;  // one per connection, reused per request
//   auto r = weft::http::parse_request(bytes, limits, storage, head, state);
//   if (r.state == parse_result::complete) { /* head views point into bytes */ }
//
// `bytes` is everything the connection holds for this request, starting at
// its first byte. While the result is `incomplete` nothing is consumed: the
// caller appends what it reads next and calls again with the same state.
// The buffer may move between calls (the state keeps offsets, not pointers),
// and the state remembers how far the previous call got, so a client that
// sends one byte per read costs O(n) in total, not O(n^2). The result is the
// same however the bytes were split across reads.
//
// Allocates nothing and throws nothing. After an error the connection must
// answer `status` and close: the framing of what follows is unknown.
//
// Threading: no shared state; any thread.

#include <weft/http/header_field.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace weft::http {

// Each limit is checked as soon as the bytes seen exceed it, so a client
// cannot make the server buffer more than the limit by never finishing.
struct parse_limits {
  std::size_t max_request_line = 8192;  // bytes before its CRLF; over: 414
  std::size_t max_head = 65536;  // everything through the empty line ending the head; over: 431
  std::size_t max_fields = 100;  // field lines; over: 431 (the server holds 256 at most)
  std::uint64_t max_body = 8u << 20;  // a larger Content-Length: 413
};

enum class body_kind : std::uint8_t { none, content_length, chunked };

struct request_head {
  std::string_view method;  // a token, case-sensitive ("GET", "get" is another method)
  std::string_view target;  // origin-, absolute-, authority- (CONNECT) or asterisk-form (OPTIONS)
  int version_minor = 1;    // HTTP/1.<minor>: 0 or 1
  std::span<header_field> fields;  // in order received; a prefix of the caller's storage
  // Framing, decided by RFC 9112 §6.3. A Content-Length of 0 is content_length.
  body_kind body = body_kind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = false;       // 1.1: unless "Connection: close"; 1.0: only with "keep-alive"
  bool expect_continue = false;  // "Expect: 100-continue" in an HTTP/1.1 request
  // The authority of an absolute-form or authority-form target, else the Host
  // field's value (RFC 9112 §3.2.2: the target wins). Empty in HTTP/1.0
  // without Host, or with an empty Host.
  std::string_view host;

  const header_field* find(std::string_view name) const noexcept {
    return find_field(fields, name);
  }
};

struct parse_result {
  enum outcome : std::uint8_t { complete, incomplete, error };
  outcome state = incomplete;
  std::size_t consumed = 0;      // complete: bytes of the head, through its final CRLF
  int status = 0;                // error: the status to answer (400, 413, 414, 431, 501, 505)
  const char* reason = nullptr;  // error: a static explanation, for logs
};

// What parse_request remembers between calls on one request. Opaque to
// callers: value-initialize it, pass it to every call for the same request.
// parse_request resets it after complete or error, ready for the next request.
// Everything is an offset into `bytes`, 32 bits wide: the state is then 72
// bytes, which GCC clears with five vector stores, where at 120 it cleared
// it with `rep stosq` once a request, an instruction whose start-up alone
// costs tens of cycles. A head is looked for in the first 4 GiB of `bytes`.
struct parse_state {
  std::uint32_t line = 0;         // start of the first line not yet parsed
  std::uint32_t scan = 0;         // bytes in [line, scan) hold no CR or LF
  std::uint32_t first_field = 0;  // where the field lines start; 0 = request line not parsed
  std::uint32_t fields = 0;       // field lines parsed so far
  std::uint32_t method_off = 0, method_len = 0, target_off = 0, target_len = 0;
  std::uint32_t host_off = 0, host_len = 0, cl_off = 0, cl_len = 0;
  std::uint64_t content_length = 0;
  std::uint8_t version_minor = 0;
  std::uint8_t host_fields = 0;
  bool host_from_target = false;
  bool has_cl = false;
  bool has_te = false, te_chunked_last = false, te_unknown = false;
  std::uint8_t te_chunked = 0;  // how many times chunked was listed (saturates at 2)
  bool conn_close = false, conn_keep_alive = false, expect_continue = false;
};

// Parses the request head at the start of `bytes` into `out`; field views go
// into `storage`, which must outlive them and be the same on every call for
// one request (its size caps max_fields). `out` is meaningful only when the
// result is complete.
parse_result parse_request(std::string_view bytes, const parse_limits& limits,
                           std::span<header_field> storage, request_head& out,
                           parse_state& state) noexcept;

}  // namespace weft::http
