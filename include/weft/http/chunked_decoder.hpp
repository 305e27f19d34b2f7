#pragma once
// chunked_decoder: an incremental decoder for the chunked transfer coding
// (RFC 9112 §7.1). Feed it bytes; it hands back body bytes as views into
// them (no copy), and at the end the trailer fields.
//
//   weft::http::chunked_decoder dec(limits);
//   for (;;) {
//     auto r = dec.decode(buffered, trailer_storage);
//     // use r.data / r.trailers before dropping the bytes they view
//     buffered.remove_prefix(r.consumed);
//     if (r.state == chunk_result::body) continue;       // more may follow at once
//     if (r.state == chunk_result::incomplete) break;    // keep `buffered`, read more, append
//     ...  // complete (r.consumed ends the message) or error (answer r.status, close)
//   }
//
// Each call takes the bytes the previous calls left unconsumed, followed by
// any new ones. Framing is consumed as it is read, byte by byte, so a slow
// client costs O(n); the trailer section alone stays unconsumed until its
// final CRLF, because its fields are returned as views. The outcome does not
// depend on how the bytes were split. Allocates nothing, throws nothing.
//
// Threading: a plain value; one connection uses it at a time.

#include <weft/http/header_field.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace weft::http {

struct chunked_limits {
  std::uint64_t max_body = 8u << 20;  // decoded bytes; more: 413
  // Bytes of chunk extensions (and of leading zeros past 16 size digits),
  // all chunks together, plus one per 16 bytes of data decoded so far;
  // more: 400. It bounds the framing a body carries besides its data, and
  // grows with the data so that a body signing every chunk (S3's
  // aws-chunked, 81 bytes a chunk) is not refused.
  std::size_t max_extensions = 4096;
  std::size_t max_trailer = 16384;       // the trailer section, through its final CRLF; more: 431
  std::size_t max_trailer_fields = 100;  // more: 431
};

struct chunk_result {
  enum outcome : std::uint8_t { body, incomplete, complete, error };
  outcome state = incomplete;
  std::size_t consumed = 0;          // bytes of the input used up, framing and data alike
  std::string_view data;             // body: decoded bytes, a view into the input
  std::span<header_field> trailers;  // complete: a prefix of the caller's storage
  int status = 0;                    // error: 400, 413 or 431
  const char* reason = nullptr;      // error: a static explanation, for logs
};

class chunked_decoder {
 public:
  explicit chunked_decoder(const chunked_limits& limits = {}) noexcept : limits_(limits) {}

  // Decodes from the start of `in`. Trailer views go into `storage`, which
  // must be the same on every call (its size caps max_trailer_fields).
  // After complete, further calls return complete (with no trailers); after
  // an error, the same error. Neither consumes anything.
  chunk_result decode(std::string_view in, std::span<header_field> storage) noexcept;

  // Body bytes decoded so far.
  std::uint64_t decoded() const noexcept { return decoded_; }
  // Ready for another message.
  void reset() noexcept { *this = chunked_decoder(limits_); }

 private:
  // Where the decoder is in the grammar. The ext_* states run from the end
  // of the size digits to the CR of the chunk line; size_bws is BWS there.
  enum class state : std::uint8_t {
    size,
    size_bws,
    ext_name_start,
    ext_name,
    ext_name_bws,
    ext_value_start,
    ext_token,
    ext_quoted,
    ext_quoted_pair,
    ext_value_end,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailer,
    done,
    failed
  };

  bool framing_byte(char c) noexcept;
  std::uint64_t extension_budget() const noexcept { return limits_.max_extensions + decoded_ / 16; }
  state chunk_line_byte(char c) noexcept;
  bool fail(int status, const char* reason) noexcept;
  chunk_result trailer(std::string_view in, std::size_t base,
                       std::span<header_field> storage) noexcept;
  chunk_result failure() const noexcept;

  chunked_limits limits_;
  state state_ = state::size;
  std::uint8_t digits_ = 0;      // hex digits of this chunk's size so far
  std::uint64_t remaining_ = 0;  // size: the value so far; data: bytes left in the chunk
  std::uint64_t decoded_ = 0;
  std::size_t ext_bytes_ = 0;
  std::size_t t_line_ = 0, t_scan_ = 0, t_fields_ = 0;  // trailer progress, from its start
  int status_ = 0;
  const char* reason_ = nullptr;
};

}  // namespace weft::http
