#pragma once
// What every fuzz target shares: the libFuzzer entry point and a check that
// stays on in release builds (assert would vanish in the replay tests).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace weft::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) noexcept {
  return {reinterpret_cast<const char*>(data), size};
}

// A split point chosen by the fuzzer: the first byte scales over [0, n].
inline std::size_t split_at(std::uint8_t selector, std::size_t n) noexcept {
  return n * selector / 255;
}

}  // namespace weft::fuzz
