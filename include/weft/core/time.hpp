#pragma once
// weft measures time on the monotonic clock only.
#include <chrono>

namespace weft {
using clock = std::chrono::steady_clock;
using duration = clock::duration;
using time_point = clock::time_point;
using namespace std::chrono_literals;
}  // namespace weft
