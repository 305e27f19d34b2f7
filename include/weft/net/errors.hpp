#pragma once
// Errors that weft's stream operations report beyond errno values.
// Operations throw std::system_error; compare its code() with these, or
// with std::errc values (timed_out, operation_canceled, connection_reset).
//
// Threading: constants and a stateless error category; safe from any thread.

#include <system_error>

namespace weft {

enum class net_errc {
  line_too_long = 1,  // read_until found no delimiter within max_bytes
  unexpected_eof,     // read_exact met EOF before the buffer was full
};

const std::error_category& net_category() noexcept;
inline std::error_code make_error_code(net_errc e) noexcept {
  return {static_cast<int>(e), net_category()};
}

// Whether an operation's error says the peer, or the path to it, ended the
// connection: a reset, a broken pipe, an abort, TCP giving up (ETIMEDOUT:
// retransmission or keepalive), or an ICMP error (host or network
// unreachable). An ordinary end for a server, not worth an error line.
// with_timeout's std::errc::timed_out is the same code: a caller that uses
// it tells the two apart itself.
bool peer_lost(std::error_code code) noexcept;

}  // namespace weft

template <>
struct std::is_error_code_enum<weft::net_errc> : std::true_type {};
