#pragma once
// Signals for more than one loop. A signal sent to the process is pending
// once, and the first signalfd read takes it: with two loops asking for
// SIGTERM, only the loop that read first heard it, and the other went on
// serving. libuv meets the same limit by reading signals in one place and
// handing each to every loop that watches it. Here the loop that reads a
// signal hands it on: it posts it to every other loop that asked for it.
//
// Threading: any thread. One mutex guards the list; it is taken by
// on_signals, by the destruction of a loop that asked for signals, and once
// per signal read, never on an I/O path. A loop leaves the list first thing
// in its destructor, under that mutex, so a post never reaches a loop
// being destroyed.

#include <weft/core/loop.hpp>

#include <cstdint>

namespace weft::detail {

// Bit s-1 of a 64-bit set: signal s.
constexpr std::uint64_t signal_bit(int sig) noexcept {
  return std::uint64_t{1} << (sig - 1);
}

struct signal_fanout {
  // The signals `l` asks for (bit s-1 for signal s), replacing what it
  // asked before; 0 takes it off the list. On the calling thread, whose
  // mask on_signals sets: the list keeps it.
  static void want(loop& l, std::uint64_t signals);
  // Of `blocked`, the signals `l` blocked and asks for no more: those that
  // another loop of this thread still asks for, which the thread's mask
  // must keep, become that loop's to unblock; the rest are returned, to
  // unblock now.
  static std::uint64_t hand_over(loop& l, std::uint64_t blocked);
  // Posts `sig`, read by `reader`, to every other loop that asked for it.
  static void spread(const loop& reader, int sig);

  // On the asking loop's thread: runs its handler, if it still asks for
  // `sig` (it may have changed its set since the post).
  static void deliver(loop& l, int sig);
};

}  // namespace weft::detail
