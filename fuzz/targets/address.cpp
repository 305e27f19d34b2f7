// The address parser (weft::endpoint). Asserts the round trip: whatever
// parses formats to text that parses back to the same endpoint and text.

#include <weft/net/address.hpp>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using weft::endpoint;
  std::string_view text = weft::fuzz::as_text(data, size);
  if (auto e = endpoint::parse(text)) {
    std::string formatted = e->to_string();
    auto again = endpoint::parse(formatted);
    FUZZ_CHECK(again && *again == *e && again->to_string() == formatted);
    // The port is the decimal digits after the last ':' of the input.
    FUZZ_CHECK(text.substr(text.rfind(':') + 1).size() <= 5);
    FUZZ_CHECK(std::to_string(e->port()) == formatted.substr(formatted.rfind(':') + 1));
  }
  // A bare host (as --host takes it) round-trips through host() as well.
  if (auto h = endpoint::from_host(text, 80)) {
    auto again = endpoint::from_host(h->host(), 80);
    FUZZ_CHECK(again && *again == *h && again->host() == h->host());
  }
  return 0;
}
