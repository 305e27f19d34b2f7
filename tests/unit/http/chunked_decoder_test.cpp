#include <weft/http/chunked_decoder.hpp>

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <string>
#include <vector>

#include "http/http_test_util.hpp"

using namespace weft::http;
using namespace weft::http::parse_test;
using namespace std::string_literals;

namespace {

// An input and the status it must get; 0 means the body decodes completely.
struct status_case {
  std::string input;
  int status;
};

// Each case gets its status whole, and the same result at every split point.
void expect_statuses(const std::vector<status_case>& cases, const chunked_limits& limits = {}) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    decoded d = decode_whole(c.input, limits);
    if (c.status == 0) {
      EXPECT_EQ(d.state, chunk_result::complete) << d;
    } else {
      EXPECT_EQ(d.state, chunk_result::error) << d;
      EXPECT_EQ(d.status, c.status) << d;
    }
    expect_decode_split_invariant(c.input, limits);
  }
}

const chunked_limits small{
    .max_body = 16, .max_extensions = 16, .max_trailer = 32, .max_trailer_fields = 2};

}  // namespace

// ---- the happy path ----

TEST(chunked_decoder, decodes_chunks_and_stops_after_the_last_one) {
  std::string in = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /next";
  decoded d = decode_whole(in);
  ASSERT_EQ(d.state, chunk_result::complete) << d;
  EXPECT_EQ(d.body, "hello world");
  EXPECT_EQ(d.consumed, in.find("GET"));
  EXPECT_TRUE(d.trailers.empty());
  expect_decode_split_invariant(in);
}

TEST(chunked_decoder, returns_body_bytes_as_views_into_the_input) {
  chunked_decoder dec;
  std::array<header_field, 4> storage;
  std::string in = "A\r\n0123456789\r\n0\r\n\r\n";
  chunk_result r = dec.decode(in, storage);
  ASSERT_EQ(r.state, chunk_result::body);
  EXPECT_EQ(r.data, "0123456789");
  EXPECT_EQ(r.data.data(), in.data() + 3);
  EXPECT_EQ(r.consumed, 13u);
  r = dec.decode(std::string_view(in).substr(13), storage);
  EXPECT_EQ(r.state, chunk_result::complete);
  EXPECT_EQ(r.consumed, in.size() - 13);
  EXPECT_EQ(dec.decoded(), 10u);
}

TEST(chunked_decoder, hands_out_a_chunk_in_pieces_as_it_arrives) {
  chunked_decoder dec;
  std::array<header_field, 4> storage;
  chunk_result r = dec.decode("8\r\nabc", storage);
  ASSERT_EQ(r.state, chunk_result::body);
  EXPECT_EQ(r.data, "abc");
  EXPECT_EQ(r.consumed, 6u);
  r = dec.decode("", storage);
  EXPECT_EQ(r.state, chunk_result::incomplete);
  r = dec.decode("defgh\r", storage);
  ASSERT_EQ(r.state, chunk_result::body);
  EXPECT_EQ(r.data, "defgh");
}

TEST(chunked_decoder, accepts_hex_sizes_in_either_case_and_leading_zeros) {
  decoded d = decode_whole("a\r\n0123456789\r\n00000B\r\n0123456789a\r\n000\r\n\r\n");
  ASSERT_EQ(d.state, chunk_result::complete) << d;
  EXPECT_EQ(d.body.size(), 21u);
}

// chunk-size = 1*HEXDIG and last-chunk = 1*("0") (RFC 9112 §7.1): leading
// zeros are digits like any other, and only overflow is an error. A 17th
// digit was refused even as a leading zero. Past 16 digits they count towards
// the extensions' budget, which bounds the framing bytes besides the data.
TEST(chunked_decoder, accepts_leading_zeros_past_sixteen_digits_within_the_extension_budget) {
  std::string zeros(40, '0');
  decoded d = decode_whole(zeros + "5\r\nhello\r\n" + zeros + "\r\n\r\n");
  ASSERT_EQ(d.state, chunk_result::complete) << d;
  EXPECT_EQ(d.body, "hello");
  expect_statuses({{std::string(4096 + 15, '0') + "5\r\nhello\r\n0\r\n\r\n", 0},
                   {std::string(4096 + 16, '0') + "5\r\nhello\r\n0\r\n\r\n", 400}});
}

TEST(chunked_decoder, repeats_its_outcome_after_the_end) {
  chunked_decoder dec;
  std::array<header_field, 4> storage;
  ASSERT_EQ(dec.decode("0\r\n\r\n", storage).state, chunk_result::complete);
  chunk_result r = dec.decode("5\r\nhello", storage);
  EXPECT_EQ(r.state, chunk_result::complete);
  EXPECT_EQ(r.consumed, 0u);
  dec.reset();
  EXPECT_EQ(dec.decode("1x", storage).state, chunk_result::error);
  r = dec.decode("0\r\n\r\n", storage);
  EXPECT_EQ(r.state, chunk_result::error);
  EXPECT_EQ(r.status, 400);
}

// ---- chunk sizes ----

TEST(chunked_decoder, rejects_malformed_chunk_sizes_with_400) {
  expect_statuses({{"0x5\r\nhello\r\n0\r\n\r\n", 400},
                   {"-5\r\nhello\r\n0\r\n\r\n", 400},
                   {"+5\r\nhello\r\n0\r\n\r\n", 400},
                   {" 5\r\nhello\r\n0\r\n\r\n", 400},
                   {"5 \r\nhello\r\n0\r\n\r\n", 400},
                   {"5\t\r\nhello\r\n0\r\n\r\n", 400},
                   {"5 5\r\nhello\r\n0\r\n\r\n", 400},
                   {"\r\nhello\r\n0\r\n\r\n", 400},
                   {"g\r\n0\r\n\r\n", 400},
                   {"5\0\r\nhello\r\n0\r\n\r\n"s, 400},
                   {"\xd9\xa5\r\nhello\r\n0\r\n\r\n", 400}});
}

TEST(chunked_decoder, rejects_chunk_sizes_that_overflow_64_bits_with_400) {
  chunked_limits huge{.max_body = UINT64_MAX};
  expect_statuses({{"fffffffffffffffff\r\nx\r\n0\r\n\r\n", 400},
                   {"10000000000000000\r\nx\r\n0\r\n\r\n", 400},
                   {"000000000000000010000000000000000\r\nx\r\n0\r\n\r\n", 400}},
                  huge);
  // 16 digits still fit: this one just runs out of input.
  EXPECT_EQ(decode_whole("ffffffffffffffff\r\nabc", huge).state, chunk_result::incomplete);
}

TEST(chunked_decoder, answers_a_body_over_the_limit_with_413) {
  expect_statuses({{"10\r\n0123456789abcdef\r\n0\r\n\r\n", 0},
                   {"11\r\n0123456789abcdefg\r\n0\r\n\r\n", 413},
                   {"8\r\n01234567\r\n9\r\n012345678\r\n0\r\n\r\n", 413},
                   {"ffffffffffffffff\r\n", 413}},
                  small);
  EXPECT_EQ(decode_whole("800001\r\n").status, 413);  // the default is 8 MiB
}

// ---- chunk extensions ----

TEST(chunked_decoder, accepts_well_formed_chunk_extensions) {
  expect_statuses({{"5;a\r\nhello\r\n0\r\n\r\n", 0},
                   {"5;a=b\r\nhello\r\n0\r\n\r\n", 0},
                   {"5;a=b;c=\"d;e\\\"f\"\r\nhello\r\n0;last\r\n\r\n", 0},
                   {"5 ; a = b ;c\r\nhello\r\n0\r\n\r\n", 0},
                   {"5;a=\"\"\r\nhello\r\n0\r\n\r\n", 0},
                   {"5;a=\"\xc3\xa9\"\r\nhello\r\n0\r\n\r\n", 0}});
  EXPECT_EQ(decode_whole("5;a=b\r\nhello\r\n0\r\n\r\n").body, "hello");
}

TEST(chunked_decoder, rejects_malformed_chunk_extensions_with_400) {
  expect_statuses({{"5;\r\nhello\r\n0\r\n\r\n", 400},
                   {"5;=b\r\nhello\r\n0\r\n\r\n", 400},
                   {"5;a=\r\nhello\r\n0\r\n\r\n", 400},
                   {"5;a=\"b\r\nhello\r\n0\r\n\r\n", 400},
                   {"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", 400},
                   {"5;a b\r\nhello\r\n0\r\n\r\n", 400},
                   {"5;a=b \r\nhello\r\n0\r\n\r\n", 400},
                   {"5;a(\r\nhello\r\n0\r\n\r\n", 400},
                   {"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", 400},
                   {"5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n", 400},
                   {"5;a\0\r\nhello\r\n0\r\n\r\n"s, 400}});
}

TEST(chunked_decoder, bounds_chunk_extensions_across_the_whole_body) {
  expect_statuses({{"1;aaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n", 0},  // 15 bytes of extension
                   {"1;aaaaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n", 400},
                   {"1;aaaaaaa\r\nx\r\n1;bbbbbbbb\r\ny\r\n0\r\n\r\n", 400}},
                  small);
}

// The budget grows by one byte per 16 bytes of data decoded, so a body that
// signs every chunk (S3's aws-chunked: ";chunk-signature=" and 64 hex
// digits, 81 bytes a chunk) is not refused past ~50 chunks, while framing
// without data stays bounded (found by review).
TEST(chunked_decoder, the_extension_budget_grows_with_the_data) {
  std::string sixteen(16, 'd');
  expect_statuses({{"10\r\n" + sixteen + "\r\n0;" + std::string(16, 'a') + "\r\n\r\n", 0},
                   {"10\r\n" + sixteen + "\r\n0;" + std::string(17, 'a') + "\r\n\r\n", 400}},
                  small);
  std::string signed_body, expected;
  for (int i = 0; i < 200; ++i) {
    std::string data(8192, static_cast<char>('a' + i % 26));
    signed_body += "2000;chunk-signature=" + std::string(64, 'f') + "\r\n" + data + "\r\n";
    expected += data;
  }
  signed_body += "0;chunk-signature=" + std::string(64, 'f') + "\r\n\r\n";
  decoded d = decode_whole(signed_body);
  ASSERT_EQ(d.state, chunk_result::complete) << d;
  EXPECT_EQ(d.body, expected);
}

// ---- CRLF framing ----

TEST(chunked_decoder, requires_crlf_right_after_chunk_data) {
  expect_statuses({{"5\r\nhelloX\r\n0\r\n\r\n", 400},
                   {"5\r\nhello\r0\r\n\r\n", 400},
                   {"5\r\nhello\n0\r\n\r\n", 400},
                   {"5\r\nhello world\r\n0\r\n\r\n", 400},
                   {"5\r\nhell\r\n0\r\n\r\n", 400}});
}

TEST(chunked_decoder, rejects_bare_lf_and_bare_cr_in_chunk_framing_with_400) {
  expect_statuses({{"5\nhello\r\n0\r\n\r\n", 400},
                   {"5\rhello\r\n0\r\n\r\n", 400},
                   {"5;a=b\nhello\r\n0\r\n\r\n", 400},
                   {"5\r\nhello\r\n0\n\r\n", 400},
                   {"5\r\nhello\r\n0\r\n\n", 400},
                   {"5\r\nhello\r\n0\r\n\rX", 400}});
}

// ---- trailers ----

TEST(chunked_decoder, parses_and_exposes_trailer_fields) {
  std::string in = "3\r\nabc\r\n0\r\nX-Sum: 42\r\nX-Note:\t two words \r\n\r\nnext";
  decoded d = decode_whole(in);
  ASSERT_EQ(d.state, chunk_result::complete) << d;
  EXPECT_EQ(d.body, "abc");
  EXPECT_EQ(d.trailers, (fields_list{{"X-Sum", "42"}, {"X-Note", "two words"}}));
  EXPECT_EQ(d.consumed, in.find("next"));
  expect_decode_split_invariant(in);
}

TEST(chunked_decoder, applies_field_rules_to_trailers) {
  expect_statuses({{"0\r\nX: a\r\n b\r\n\r\n", 400},
                   {"0\r\n X: a\r\n\r\n", 400},
                   {"0\r\nX : a\r\n\r\n", 400},
                   {"0\r\nX Y: a\r\n\r\n", 400},
                   {"0\r\n: a\r\n\r\n", 400},
                   {"0\r\nX\r\n\r\n", 400},
                   {"0\r\nX: a\0b\r\n\r\n"s, 400},
                   {"0\r\nX: a\rb\r\n\r\n", 400},
                   {"0\r\nX: a\n\r\n", 400},
                   {"0\r\nX: a\r\n\n", 400},
                   {"0\r\nX: caf\xc3\xa9\r\n\r\n", 0}});
}

TEST(chunked_decoder, answers_too_many_or_too_large_trailers_with_431) {
  expect_statuses({{"0\r\nA: 1\r\nB: 2\r\n\r\n", 0},
                   {"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431},
                   {"0\r\nA: 0123456789012345678901234\r\n\r\n", 0},  // 32 bytes
                   {"0\r\nA: 01234567890123456789012345\r\n\r\n", 431},
                   {"0\r\nA: 0123456789012345678901234567890123456789", 431}},
                  small);
}

TEST(chunked_decoder, caps_trailers_at_the_storage_size_with_431) {
  chunked_decoder dec;
  std::array<header_field, 1> storage;
  chunk_result r = dec.decode("0\r\nA: 1\r\nB: 2\r\n\r\n", storage);
  EXPECT_EQ(r.state, chunk_result::error);
  EXPECT_EQ(r.status, 431);
}

TEST(chunked_decoder, keeps_the_trailer_unconsumed_until_it_is_complete) {
  chunked_decoder dec;
  std::array<header_field, 4> storage;
  chunk_result r = dec.decode("0\r\nX: 1\r\nY:", storage);
  EXPECT_EQ(r.state, chunk_result::incomplete);
  EXPECT_EQ(r.consumed, 3u);
  std::string rest = "X: 1\r\nY: 2\r\n\r\n";
  r = dec.decode(rest, storage);
  ASSERT_EQ(r.state, chunk_result::complete);
  EXPECT_EQ(r.consumed, rest.size());
  ASSERT_EQ(r.trailers.size(), 2u);
  EXPECT_EQ(r.trailers[0].value.data(), rest.data() + 3);
  EXPECT_EQ(r.trailers[1].value, "2");
}

// Random damage to valid bodies must never break split invariance.
TEST(chunked_decoder, gives_the_same_result_at_every_split_for_mutated_bodies) {
  const std::string seeds[] = {
      "5\r\nhello\r\n1;a=\"b\"\r\nx\r\n0\r\nT: v\r\n\r\n",
      "a;x=y\r\n0123456789\r\n0\r\n\r\n",
  };
  const char alphabet[] = {'\r', '\n', ' ', '\t', ';', '=', '"', '0', 'f', 'x', '\0', ':'};
  std::mt19937 rng(54321);
  for (int round = 0; round < 300; ++round) {
    std::string in = mutate(seeds[round % 2], round, rng, alphabet);
    SCOPED_TRACE(in);
    expect_decode_split_invariant(in, small);
    expect_decode_split_invariant(in);
  }
}
