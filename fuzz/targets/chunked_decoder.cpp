// The chunked-body decoder (RFC 9112 §7.1). Input: a split selector byte, a
// limits byte, then the body bytes. Asserts that decoding them in one read
// or in two gives the same body, trailers, outcome and bytes consumed, and
// that every view lies inside the bytes it was given.

#include <weft/http/chunked_decoder.hpp>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_check.hpp"

namespace {

using namespace weft::http;

struct summary {
  int state = chunk_result::incomplete;
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> trailers;
  std::size_t consumed = 0;
  bool operator==(const summary&) const = default;
};

bool inside(std::string_view outer, std::string_view v) {
  return v.empty() ||
         (v.data() >= outer.data() && v.data() + v.size() <= outer.data() + outer.size());
}

// Feeds each read after what earlier ones left unconsumed, as a connection
// does, until the decoder finishes or wants more than there is.
summary decode(const std::vector<std::string_view>& reads, const chunked_limits& limits) {
  chunked_decoder dec(limits);
  std::array<header_field, 8> storage;
  std::string pending;
  summary s;
  for (std::string_view read : reads) {
    pending += read;
    for (;;) {
      chunk_result r = dec.decode(pending, storage);
      FUZZ_CHECK(r.consumed <= pending.size());
      FUZZ_CHECK(r.data.empty() || r.state == chunk_result::body);
      FUZZ_CHECK(inside(pending, r.data));
      s.body += r.data;
      s.consumed += r.consumed;
      s.state = r.state;
      s.status = r.status;
      if (r.state == chunk_result::complete) {
        for (const auto& t : r.trailers) {
          FUZZ_CHECK(inside(pending, t.name) && inside(pending, t.value) && !t.name.empty());
          s.trailers.emplace_back(t.name, t.value);
        }
      }
      if (r.state == chunk_result::error)
        FUZZ_CHECK(r.status == 400 || r.status == 413 || r.status == 431);
      pending.erase(0, r.consumed);
      if (r.state != chunk_result::body) break;
    }
    if (s.state == chunk_result::complete || s.state == chunk_result::error) break;
  }
  // After an error, what was consumed depends on where the reads ended
  // (a failing call consumes nothing); only the status is the outcome.
  if (s.state == chunk_result::error) s.consumed = 0;
  FUZZ_CHECK(dec.decoded() == s.body.size());
  FUZZ_CHECK(s.body.size() <= limits.max_body);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::string_view bytes = weft::fuzz::as_text(data + 2, size - 2);
  // Small limits half the time, so each limit is reached by short inputs.
  chunked_limits limits;
  if (data[1] & 1) limits = {data[1] * 2u, data[1] / 4u, 16u + data[1], data[1] % 8u};
  std::size_t split = weft::fuzz::split_at(data[0], bytes.size());
  summary whole = decode({bytes}, limits);
  summary in_two = decode({bytes.substr(0, split), bytes.substr(split)}, limits);
  FUZZ_CHECK(whole == in_two);
  return 0;
}
