// Differential: weft's request parser against the simple reference decoder
// in fuzz/reference/. Input: request bytes. Asserts that both accept, reject
// (with the same status) or wait for more on the same inputs, and that they
// agree on method, target, version, fields, host and framing.

#include <weft/http/request_parser.hpp>

#include <array>

#include "fuzz_check.hpp"
#include "reference/request_reference.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace weft::http;
  using weft::fuzz::reference_head;
  std::string_view in = weft::fuzz::as_text(data, size);
  std::array<header_field, 100> storage;  // as many as max_fields: the limit, not storage, caps
  request_head head;
  parse_state state;
  parse_result r = parse_request(in, parse_limits{}, storage, head, state);
  reference_head ref = weft::fuzz::reference_parse(in);

  static_assert(int(parse_result::complete) == int(reference_head::complete) &&
                int(parse_result::incomplete) == int(reference_head::incomplete) &&
                int(parse_result::error) == int(reference_head::error));
  FUZZ_CHECK(int(r.state) == int(ref.state));
  if (r.state == parse_result::error) FUZZ_CHECK(r.status == ref.status);
  if (r.state != parse_result::complete) return 0;
  FUZZ_CHECK(r.consumed == ref.consumed);
  FUZZ_CHECK(head.method == ref.method && head.target == ref.target);
  FUZZ_CHECK(head.version_minor == ref.version_minor && head.host == ref.host);
  FUZZ_CHECK(head.fields.size() == ref.fields.size());
  for (std::size_t i = 0; i < ref.fields.size(); ++i) {
    FUZZ_CHECK(head.fields[i].name == ref.fields[i].first);
    FUZZ_CHECK(head.fields[i].value == ref.fields[i].second);
  }
  FUZZ_CHECK(int(head.body) == int(ref.body) && head.content_length == ref.content_length);
  FUZZ_CHECK(head.keep_alive == ref.keep_alive);
  return 0;
}
