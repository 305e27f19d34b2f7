// The request parser's fast path (src/http/plain_head.cpp) against its
// general path: the fast path takes exactly the complete, acceptable heads
// that do not start with empty lines, with the same result, and gives up on
// everything else.

#include "http/plain_head.hpp"

#include <weft/http/request_parser.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "http/http_test_util.hpp"

using namespace weft::http;
using namespace weft::http::parse_test;

namespace {

// The general path's answer: a first read of one byte moves the parser's
// state, so the second call, with everything, cannot take the fast path.
parsed parse_general(std::string_view in, const parse_limits& limits = {}) {
  if (in.size() < 2) return parse_whole(in, limits);
  return parse_in_reads(in, {1, in.size()}, limits);
}

// The fast path alone: the head's size, or 0 when it gives up.
std::size_t fast_size(std::string_view in, const parse_limits& limits = {}) {
  std::vector<header_field> storage(256);
  request_head out;
  return weft::http::detail::parse_plain_head(in, limits, storage, out);
}

// Whatever the input, the fast path either gives up or agrees with the
// general path; it gives up on a complete, acceptable head only when the
// head starts with an empty line.
void expect_agreement(std::string_view in, const parse_limits& limits = {}) {
  parsed general = parse_general(in, limits);
  std::size_t size = fast_size(in, limits);
  bool leading_empty_line = in.starts_with("\r");
  if (general.state == parse_result::complete && !leading_empty_line) {
    ASSERT_EQ(size, general.consumed);
    ASSERT_EQ(parse_whole(in, limits), general);  // parse_request takes the fast path
  } else {
    ASSERT_EQ(size, 0u) << general;
  }
}

std::string plain(std::string_view target = "/") {
  return head({"GET " + std::string(target) + " HTTP/1.1", "Host: 127.0.0.1:8080"});
}

}  // namespace

TEST(plain_head, takes_a_whole_plain_head_as_the_general_path_does) {
  for (const std::string& in :
       {plain(), plain("/a/b?c=d%20e"), head({"POST /x HTTP/1.0", "content-length: 3"}),
        head({"PUT /x HTTP/1.1", "HOST:  example.com \t", "Transfer-Encoding: chunked",
              "Connection: keep-alive, close", "Expect: 100-continue",
              "X-Empty:", "X-Obs: caf\xc3\xa9\tend"}),
        head({"OPTIONS * HTTP/1.1", "Host: [::1]:80"}),
        head({"CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"}),
        head({"GET http://Example.com:80/p HTTP/1.1", "Host: other"}),
        head({"GET / HTTP/1.1", "Host: a%41b:"})}) {
    SCOPED_TRACE(in);
    EXPECT_NE(fast_size(in), 0u);
    expect_agreement(in);
  }
}

TEST(plain_head, gives_up_until_the_head_is_whole) {
  std::string in = plain();
  for (std::size_t n = 0; n < in.size(); ++n) EXPECT_EQ(fast_size(in.substr(0, n)), 0u) << n;
  EXPECT_EQ(fast_size(in + "GET"), in.size());
}

TEST(plain_head, gives_up_on_empty_lines_before_the_request_line) {
  EXPECT_EQ(fast_size("\r\n" + plain()), 0u);
  EXPECT_EQ(parse_whole("\r\n" + plain()).state, parse_result::complete);
}

TEST(plain_head, gives_up_at_each_limit_and_takes_a_head_just_within_it) {
  std::string in = head({"GET /abc HTTP/1.1", "Host: a", "X: 1"});
  parse_limits at{.max_request_line = 17, .max_head = in.size(), .max_fields = 2};
  EXPECT_EQ(fast_size(in, at), in.size());
  for (parse_limits over : {parse_limits{.max_request_line = 16, .max_fields = 2},
                            parse_limits{.max_head = in.size() - 1, .max_fields = 2},
                            parse_limits{.max_fields = 1}, parse_limits{.max_head = 1}}) {
    EXPECT_EQ(fast_size(in, over), 0u);
    expect_agreement(in, over);
  }
}

TEST(plain_head, gives_up_on_every_error) {
  for (const std::string& in :
       {head({"GET / HTTP/1.1"}), head({"GET / HTTP/2.0", "Host: a"}),
        head({"GET  / HTTP/1.1", "Host: a"}), head({"GET /%4 HTTP/1.1", "Host: a"}),
        head({"GET * HTTP/1.1", "Host: a"}), head({"CONNECT / HTTP/1.1", "Host: a"}),
        head({"GET / HTTP/1.1", "Host: a", "Host: a"}), head({"GET / HTTP/1.1", "Host: a b"}),
        head({"GET / HTTP/1.1", "Host: a:123456"}), head({"GET / HTTP/1.1", "Host: a:65536"}),
        head({"GET / HTTP/1.1", "Host: a", "X : 1"}), head({"GET / HTTP/1.1", "Host: a", " X: 1"}),
        head({"GET / HTTP/1.1", "Host: a", "X: \x01"}), head({"GET / HTTP/1.1", "Host: a", ": 1"}),
        head({"GET / HTTP/1.1", "Host: a", "Content-Length: 1", "Content-Length: 2"}),
        head({"GET / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Content-Length: 1"}),
        std::string("GET / HTTP/1.1\r\nHost: a\r\r\n"),
        std::string("GET / HTTP/1.1\r\nHost: a\n\r\n"),
        std::string("GET / HTTP/1.1\r\nHost: a\r\n\rX")}) {
    SCOPED_TRACE(in);
    EXPECT_EQ(fast_size(in), 0u);
    EXPECT_NE(parse_general(in).state, parse_result::complete);
  }
}

// The usual Host line ("Host: ", a host of under 16 bytes, CRLF, with 17
// bytes of input after "Host: ") is checked in one SSE2 pass; any other
// goes through the field line's scan and a walk of the host's bytes. Either
// way the answer is the general path's, whatever follows the head.
TEST(plain_head, agrees_on_every_host_whichever_way_it_checks_it) {
  const std::string pad = "X-Pad: " + std::string(32, 'p');
  for (const char* host : {"a",
                           "127.0.0.1",
                           "127.0.0.1:8080",
                           "localhost:",
                           "a:0",
                           "A.Z-09:1",
                           "a-b.c_d",
                           "a~b:1",
                           ":80",
                           "a::80",
                           "a:8:0",
                           "a:8a",
                           "a:\x80",
                           "[::1]:80",
                           "a%41:1",
                           "a@b",
                           "a/b",
                           "a?b",
                           "\xc3\xa9",
                           "abcdefghijklmn:1",
                           "abcdefghijklmno",
                           "abcdefghijklmnop",
                           "abcdefghijklmno:1"}) {
    for (const char* name :
         {"Host: ", "host: ", "HOST: ", "hOsT: ", "Host:", "Host:  ", "Hosts: "}) {
      for (const char* ows : {"", " ", "\t"}) {
        std::string line = name + std::string(host) + ows;
        for (const std::string& in :
             {head({"GET / HTTP/1.1", line}), head({"GET / HTTP/1.1", line, pad}),
              head({"GET / HTTP/1.1", line}) + plain()}) {
          SCOPED_TRACE(in);
          expect_agreement(in);
        }
      }
    }
  }
}

// The usual Host line is taken whole (name, value and CRLF in one SSE2
// pass) only when 17 bytes follow its "Host: "; its end, its limits and a
// second Host are decided as the general path decides them.
TEST(plain_head, takes_the_usual_host_line_whole_only_as_the_general_path_would) {
  const std::string whole = head({"GET / HTTP/1.1", "Host: 127.0.0.1:65535"});
  for (std::size_t extra = 0; extra < 20; ++extra) {  // the head ends at every distance
    std::string in = whole + std::string(extra, 'x');
    SCOPED_TRACE(in);
    EXPECT_EQ(fast_size(in), whole.size());
    expect_agreement(in);
  }
  // Cut anywhere, in a buffer of exactly its size (ASan sees a read past it).
  for (std::size_t n = 0; n < whole.size(); ++n) {
    std::unique_ptr<char[]> cut(new char[n]);
    std::copy_n(whole.data(), n, cut.get());
    EXPECT_EQ(fast_size(std::string_view(cut.get(), n)), 0u) << n;
  }
  const std::string pad = "X-Pad: " + std::string(32, 'p');
  for (const std::string& in :
       {head({"GET / HTTP/1.1", "Host: a", pad, "Host: a", pad}),
        head({"GET / HTTP/1.1", "Host: a", pad, "host: b", pad}),
        std::string("GET / HTTP/1.1\r\nHost: a\r\r\n") + pad + "\r\n\r\n",
        std::string("GET / HTTP/1.1\r\nHost: a\n\r\n") + pad + "\r\n\r\n",
        std::string("GET / HTTP/1.1\r\nHost: a\rb\r\n") + pad + "\r\n\r\n"}) {
    SCOPED_TRACE(in);
    EXPECT_EQ(fast_size(in), 0u);
    EXPECT_NE(parse_general(in).state, parse_result::complete);
  }
  // The CRLF after the host lies exactly at the head limit, then just inside it.
  std::string in = head({"GET / HTTP/1.1", "Host: example.com", pad});
  std::size_t cr = in.find("\r\n", in.find("Host"));
  for (std::size_t max_head : {cr, cr + 1, cr + 2, in.size() - 1, in.size()}) {
    SCOPED_TRACE(max_head);
    expect_agreement(in, parse_limits{.max_head = max_head});
  }
}

// A five-digit port is compared with 65535 as text, not computed.
TEST(plain_head, takes_ports_up_to_65535_and_no_higher) {
  const std::string after = plain();  // enough bytes after the Host for the SSE2 pass
  for (const auto& [port, ok] :
       std::initializer_list<std::pair<const char*, bool>>{{"65535", true},
                                                           {"65529", true},
                                                           {"59999", true},
                                                           {"06553", true},
                                                           {"00000", true},
                                                           {"65536", false},
                                                           {"65540", false},
                                                           {"65600", false},
                                                           {"66000", false},
                                                           {"70000", false},
                                                           {"99999", false},
                                                           {"123456", false}}) {
    for (std::string_view host : {"a:", "127.0.0.1:", "abcdefghijklmn:"}) {
      std::string in = head({"GET / HTTP/1.1", "Host: " + std::string(host) + port});
      for (const std::string& bytes : {in, in + after}) {
        SCOPED_TRACE(bytes);
        EXPECT_EQ(fast_size(bytes) != 0, ok);
        expect_agreement(bytes);
      }
    }
  }
}

// Heads put together from pieces, good and bad, with the odd byte changed:
// the fast path must agree with the general path on every one.
TEST(plain_head, agrees_with_the_general_path_on_generated_heads) {
  const std::vector<std::string> lines = {
      "GET / HTTP/1.1",       "POST /a?b=c HTTP/1.0",    "OPTIONS * HTTP/1.1",
      "CONNECT h:1 HTTP/1.1", "GET http://h/p HTTP/1.1", "G\x01T / HTTP/1.1",
      "GET /%zz HTTP/1.1",    "GET / HTTP/1.2",          "GET / http/1.1"};
  const std::vector<std::string> fields = {"Host: a",
                                           "Host: 127.0.0.1:8080",
                                           "Host: [::1]",
                                           "Host: a%41",
                                           "Host: a:99999",
                                           "Host:",
                                           "Host: a b",
                                           "Content-Length: 5",
                                           "Content-Length: 05",
                                           "Content-Length: -1",
                                           "Transfer-Encoding: chunked",
                                           "Transfer-Encoding: gzip",
                                           "Connection: close",
                                           "Expect: 100-continue",
                                           "X: \x80\t y ",
                                           " X: obs-fold",
                                           "X : a",
                                           "X:a\x7f",
                                           "X-Long: " + std::string(300, 'v')};
  const std::vector<std::string> ends = {"\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r"};
  std::mt19937 rng(20261202);
  auto pick = [&rng](const auto& v) -> const auto& {
    return v[rng() % v.size()];
  };
  const parse_limits small{.max_request_line = 24, .max_head = 200, .max_fields = 3};
  for (int i = 0; i < 20000; ++i) {
    std::string in = rng() % 20 == 0 ? "\r\n" : "";
    in += pick(lines) + pick(ends);
    for (int n = static_cast<int>(rng() % 5); n > 0; --n) in += pick(fields) + pick(ends);
    in += rng() % 10 == 0 ? pick(ends) : "\r\n";
    if (rng() % 4 == 0) in[rng() % in.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) in.resize(rng() % (in.size() + 1));
    SCOPED_TRACE(in);
    expect_agreement(in, rng() % 4 == 0 ? small : parse_limits{});
  }
}
