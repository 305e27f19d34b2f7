#include <weft/net/errors.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <system_error>

namespace weft {
namespace {

std::error_code sys(int e) {
  return {e, std::generic_category()};
}

// A connection the peer, or the path to it, ended: not worth an error
// line. echo logged ETIMEDOUT (TCP gave up retransmitting) and
// EHOSTUNREACH (an ICMP error) from a vanished client as errors, though
// the connection closed as it should (found by review).
TEST(peer_lost, is_a_reset_a_broken_pipe_a_transport_timeout_or_an_unreachable_peer) {
  for (int e : {ECONNRESET, EPIPE, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, ECONNABORTED})
    EXPECT_TRUE(peer_lost(sys(e))) << e;
}

TEST(peer_lost, is_not_our_own_cancellation_nor_a_framing_error_nor_a_bug) {
  EXPECT_FALSE(peer_lost(std::make_error_code(std::errc::operation_canceled)));
  EXPECT_FALSE(peer_lost(net_errc::line_too_long));
  EXPECT_FALSE(peer_lost(net_errc::unexpected_eof));
  for (int e : {EBADF, EINVAL, ENOMEM, EMFILE}) EXPECT_FALSE(peer_lost(sys(e))) << e;
}

}  // namespace
}  // namespace weft
