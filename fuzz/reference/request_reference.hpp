#pragma once
// A second, deliberately simple decoder for HTTP/1.1 request heads, written
// for the differential fuzz target (fuzz/targets/request_diff.cpp). It reads
// the whole input at once, line by line, straight from RFC 9112 and the
// choices weft documents (bare LF and obs-fold refused, 505 for other
// versions, duplicate Host refused, strict Content-Length and
// Transfer-Encoding). Speed is no goal: it copies into std::strings.
//
// Limits are weft's defaults; the fuzzer's inputs (at most 4096 bytes) stay
// below the request-line and head limits, so only the field count (100)
// and the body limit (8 MiB) can be reached.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::fuzz {

struct reference_head {
  enum outcome { complete, incomplete, error };
  outcome state = incomplete;
  int status = 0;            // error: 400, 413, 431, 501 or 505
  std::size_t consumed = 0;  // complete: through the empty line's CRLF
  std::string method, target, host;
  int version_minor = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  enum class framing { none, content_length, chunked } body = framing::none;
  std::uint64_t content_length = 0;
  bool keep_alive = false;
};

reference_head reference_parse(std::string_view input);

}  // namespace weft::fuzz
