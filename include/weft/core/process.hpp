#pragma once
// Process-wide settings a server makes once, at start-up.
//
//   int main() {
//     weft::raise_open_file_limit();  // before the loops start accepting
//     ...
//   }
//
// Threading: call from main, before other threads start.

#include <cstdint>

namespace weft {

// Raises the soft limit on open descriptors (RLIMIT_NOFILE) to the hard
// limit, and returns the soft limit now in force. A server holds one
// descriptor per connection, and the usual soft limit (1024, systemd's
// default, with a hard limit of 524288) would stop it near a thousand
// clients on a machine that allows far more. Go's runtime does the same at
// start since Go 1.19. The library never calls it: a program decides.
std::uint64_t raise_open_file_limit() noexcept;

}  // namespace weft
