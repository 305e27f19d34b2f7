#pragma once
// A second, deliberately simple decoder for the chunked transfer coding,
// written for the differential fuzz target (fuzz/targets/chunked_diff.cpp).
// It reads the whole input at once, rule by rule, straight from RFC 9112
// §7.1 (chunked-body) and RFC 9110 §5 (the trailer section's field lines),
// plus the choices weft documents where the RFCs leave one open; each is
// written down where it is made, in chunked_reference.cpp. Speed is no
// goal: it copies into std::strings.
//
// Like weft's decoder, it reports an error at the first byte that no valid
// body could hold, and "incomplete" while every byte so far could still
// begin one: the two must agree on bodies cut short as well as on whole ones.
//
// Limits are weft's defaults but max_body, which the caller picks. Inputs of
// at most 4096 bytes cannot reach the extension budget (4096 bytes) or the
// trailer section's size (16384); the field count (100) they can reach.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::fuzz {

struct reference_chunked {
  enum outcome { complete, incomplete, error };
  outcome state = incomplete;
  int status = 0;            // error: 400, 413 or 431
  std::size_t consumed = 0;  // complete: through the trailer section's final CRLF
  std::string body;          // the chunk data, decoded so far
  std::vector<std::pair<std::string, std::string>> trailers;  // complete: name, trimmed value
};

reference_chunked reference_decode_chunked(std::string_view input, std::uint64_t max_body);

}  // namespace weft::fuzz
