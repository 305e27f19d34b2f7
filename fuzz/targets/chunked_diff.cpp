// Differential: weft's chunked decoder against the simple reference decoder
// in fuzz/reference/. Input: a limits byte, then the body bytes, given to
// both at once. Asserts that both complete, wait for more or fail (with the
// same status), and agree on the decoded body, the bytes consumed and the
// trailer fields. chunked_decoder checks split-invariance; this one checks
// the rules themselves, where a consistent misreading would let a body be
// framed differently by weft and a proxy in front of it.

#include <weft/http/chunked_decoder.hpp>

#include <array>
#include <span>
#include <string>

#include "fuzz_check.hpp"
#include "reference/chunked_reference.hpp"

namespace {

using namespace weft::http;

struct outcome {
  int state = chunk_result::incomplete;
  int status = 0;
  std::size_t consumed = 0;
  std::string body;
  std::span<header_field> trailers;
};

// Feeds the whole input as a connection would, dropping what each call
// consumed, until the decoder finishes or wants more.
outcome decode(std::string_view in, const chunked_limits& limits, std::span<header_field> storage) {
  chunked_decoder dec(limits);
  outcome o;
  for (;;) {
    chunk_result r = dec.decode(in.substr(o.consumed), storage);
    o.body += r.data;
    o.consumed += r.consumed;
    o.state = r.state;
    o.status = r.status;
    o.trailers = r.trailers;
    if (r.state != chunk_result::body) return o;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using weft::fuzz::reference_chunked;
  // Past 4096 bytes the extension budget (4096 bytes, which the reference
  // does not model) could decide; libFuzzer's -max_len=4096 stays below.
  if (size < 1 || size > 4097) return 0;
  std::string_view in = weft::fuzz::as_text(data + 1, size - 1);
  // A small max_body (0 to 127) half the time, so that 413 is reached by
  // sizes short inputs can carry; the other limits stay at their defaults.
  chunked_limits limits;
  if (data[0] & 1) limits.max_body = data[0] >> 1;
  std::array<header_field, 100> storage;  // as many as max_trailer_fields: the limit caps
  outcome actual = decode(in, limits, storage);
  reference_chunked ref = weft::fuzz::reference_decode_chunked(in, limits.max_body);

  int ref_state = ref.state == reference_chunked::complete     ? chunk_result::complete
                  : ref.state == reference_chunked::incomplete ? chunk_result::incomplete
                                                               : chunk_result::error;
  FUZZ_CHECK(actual.state == ref_state);
  FUZZ_CHECK(actual.status == ref.status);
  FUZZ_CHECK(actual.body == ref.body);
  if (actual.state != chunk_result::complete) return 0;
  FUZZ_CHECK(actual.consumed == ref.consumed);
  FUZZ_CHECK(actual.trailers.size() == ref.trailers.size());
  for (std::size_t i = 0; i < ref.trailers.size(); ++i) {
    FUZZ_CHECK(actual.trailers[i].name == ref.trailers[i].first);
    FUZZ_CHECK(actual.trailers[i].value == ref.trailers[i].second);
  }
  return 0;
}
