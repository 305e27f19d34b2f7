#include <weft/net/address.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>

using weft::endpoint;

TEST(endpoint, parses_ipv4_host_and_port) {
  auto e = endpoint::parse("127.0.0.1:8080");
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->is_v6());
  EXPECT_EQ(e->port(), 8080);
  EXPECT_EQ(e->host(), "127.0.0.1");
  EXPECT_EQ(e->to_string(), "127.0.0.1:8080");
}

TEST(endpoint, parses_bracketed_ipv6) {
  auto e = endpoint::parse("[::1]:0");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->is_v6());
  EXPECT_EQ(e->port(), 0);
  EXPECT_EQ(e->to_string(), "[::1]:0");
  EXPECT_EQ(endpoint::parse("[2001:db8::7]:443")->host(), "2001:db8::7");
}

TEST(endpoint, localhost_is_the_only_name) {
  EXPECT_EQ(endpoint::parse("localhost:80")->host(), "127.0.0.1");
  EXPECT_FALSE(endpoint::parse("example.com:80"));
}

TEST(endpoint, localhost_is_the_same_name_in_any_case) {
  for (const char* name : {"LOCALHOST", "LocalHost", "localhost"})
    EXPECT_EQ(endpoint::from_host(name, 80)->host(), "127.0.0.1") << name;
  for (const char* near : {"localhos", "localhost.", "localhostx", "lOcAlHoSt!", "localhos\x14"})
    EXPECT_FALSE(endpoint::from_host(near, 80)) << near;
}

TEST(endpoint, rejects_malformed_input) {
  for (const char* bad :
       {"", ":", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x",
        "127.0.0.1: 80", "1.2.3:80", "256.1.1.1:80", "::1:80", "[::1]80", "[::1]", "[127.0.0.1]:80",
        "[::1:80", "01.2.3.4:80x", "127.0.0.1:+80", "127.0.0.1:123456"}) {
    EXPECT_FALSE(endpoint::parse(bad)) << bad;
  }
}

// Strict means every byte: inet_pton stops at a NUL, so "127.0.0.1\0junk"
// parsed as 127.0.0.1. Found by a review of the net module.
TEST(endpoint, rejects_a_host_with_a_nul_in_it) {
  EXPECT_FALSE(endpoint::parse(std::string("127.0.0.1\0junk:80", 17)));
  EXPECT_FALSE(endpoint::parse(std::string("[::1\0]:80", 9)));
  EXPECT_FALSE(endpoint::from_host(std::string_view("::1\0zz", 6), 5));
  EXPECT_FALSE(endpoint::from_host(std::string_view("127.0.0.1\0", 10), 5));
}

TEST(endpoint, from_host_accepts_bare_ipv6) {
  auto e = endpoint::from_host("::1", 6000);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->to_string(), "[::1]:6000");
  EXPECT_FALSE(endpoint::from_host("", 1));
}

// The readiness line writes an IPv6 host in brackets ("[::1]:8080"), as a
// URI does; --host took it only bare, and refused what it had printed.
TEST(endpoint, from_host_accepts_ipv6_in_brackets) {
  auto e = endpoint::from_host("[::1]", 6000);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->to_string(), "[::1]:6000");
  for (const char* bad : {"[127.0.0.1]", "[]", "[::1", "::1]", "[[::1]]", "[localhost]"})
    EXPECT_FALSE(endpoint::from_host(bad, 1)) << bad;
}

TEST(endpoint, set_port_round_trips) {
  auto e = *endpoint::parse("10.0.0.1:1");
  e.set_port(65535);
  EXPECT_EQ(e.port(), 65535);
  EXPECT_EQ(e, *endpoint::parse("10.0.0.1:65535"));
}
