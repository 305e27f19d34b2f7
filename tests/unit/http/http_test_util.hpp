#pragma once
// Drivers for the HTTP parser tests. They feed an input the way a connection
// receives it, in reads that end at given offsets, and copy out everything
// the parser decided, so that results from different buffers compare equal.
// Each read gets a fresh buffer and the previous one is overwritten, so a
// view that survived from an earlier call would show up as garbage.

#include <weft/http/chunked_decoder.hpp>
#include <weft/http/request_parser.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace weft::http::parse_test {

using fields_list = std::vector<std::pair<std::string, std::string>>;

inline bool inside(std::string_view view, std::string_view buffer) {
  return view.empty() || (view.data() >= buffer.data() &&
                          view.data() + view.size() <= buffer.data() + buffer.size());
}

// A request head: the lines joined with CRLF, then the empty line.
inline std::string head(std::initializer_list<std::string_view> lines) {
  std::string s;
  for (auto l : lines) s.append(l).append("\r\n");
  return s + "\r\n";
}

// Everything parse_request decided.
struct parsed {
  parse_result::outcome state = parse_result::incomplete;
  std::size_t consumed = 0;
  int status = 0;
  std::string reason, method, target, host;
  int minor = 0;
  fields_list fields;
  body_kind body = body_kind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = false, expect_continue = false;
  bool operator==(const parsed&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const parsed& p) {
  const char* names[] = {"complete", "incomplete", "error"};
  os << names[p.state] << " consumed=" << p.consumed << " status=" << p.status << " (" << p.reason
     << ") " << p.method << ' ' << p.target << " 1." << p.minor << " host=" << p.host
     << " body=" << int(p.body) << '/' << p.content_length << " ka=" << p.keep_alive
     << " expect=" << p.expect_continue << " fields:";
  for (auto& [n, v] : p.fields) os << " [" << n << ": " << v << ']';
  return os;
}

// One connection's parser: limits, field storage and resume state.
struct head_reader {
  parse_limits limits;
  std::vector<header_field> storage = std::vector<header_field>(256);
  parse_state state;

  parsed feed(std::string_view bytes) {
    request_head h;
    parse_result r = parse_request(bytes, limits, storage, h, state);
    parsed p;
    p.state = r.state;
    p.consumed = r.consumed;
    p.status = r.status;
    p.reason = r.reason ? r.reason : "";
    if (r.state != parse_result::complete) return p;
    for (auto v : {h.method, h.target, h.host}) EXPECT_TRUE(inside(v, bytes));
    p.method = h.method, p.target = h.target, p.host = h.host;
    p.minor = h.version_minor;
    for (auto& f : h.fields) {
      EXPECT_TRUE(inside(f.name, bytes) && inside(f.value, bytes));
      p.fields.emplace_back(f.name, f.value);
    }
    p.body = h.body;
    p.content_length = h.content_length;
    p.keep_alive = h.keep_alive;
    p.expect_continue = h.expect_continue;
    return p;
  }
};

// Feeds `in` in reads that end at each offset of `cuts` (ascending; the last
// should be in.size()). Each call sees all bytes so far, as the connection
// keeps them until the head is complete.
inline parsed parse_in_reads(std::string_view in, const std::vector<std::size_t>& cuts,
                             const parse_limits& limits = {}) {
  head_reader reader;
  reader.limits = limits;
  std::string previous;
  for (std::size_t cut : cuts) {
    std::string buf(in.substr(0, cut));
    std::fill(previous.begin(), previous.end(), '\xff');
    parsed p = reader.feed(buf);
    if (p.state != parse_result::incomplete) return p;
    previous = std::move(buf);
  }
  return {};
}

inline parsed parse_whole(std::string_view in, const parse_limits& limits = {}) {
  return parse_in_reads(in, {in.size()}, limits);
}

// Two reads split at every offset, and one byte per read, all agree with
// parsing the input whole.
inline void expect_split_invariant(std::string_view in, const parse_limits& limits = {}) {
  const parsed whole = parse_whole(in, limits);
  for (std::size_t k = 0; k <= in.size(); ++k)
    ASSERT_EQ(parse_in_reads(in, {k, in.size()}, limits), whole) << "split at " << k;
  std::vector<std::size_t> bytewise(in.size());
  for (std::size_t k = 0; k < in.size(); ++k) bytewise[k] = k + 1;
  ASSERT_EQ(parse_in_reads(in, bytewise, limits), whole) << "one byte per read";
}

// Everything the chunked decoder produced.
struct decoded {
  chunk_result::outcome state = chunk_result::incomplete;
  std::string body;
  fields_list trailers;
  std::size_t consumed = 0;  // complete: where the message ended in the input
  int status = 0;
  std::string reason;
  bool operator==(const decoded&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const decoded& d) {
  const char* names[] = {"body", "incomplete", "complete", "error"};
  os << names[d.state] << " consumed=" << d.consumed << " status=" << d.status << " (" << d.reason
     << ") body=\"" << d.body << "\" trailers:";
  for (auto& [n, v] : d.trailers) os << " [" << n << ": " << v << ']';
  return os;
}

// Decodes `in` in reads ending at `cuts`, keeping unconsumed bytes between
// reads as a connection does (in a buffer that moves on every read).
inline decoded decode_in_reads(std::string_view in, const std::vector<std::size_t>& cuts,
                               const chunked_limits& limits = {}) {
  chunked_decoder dec(limits);
  std::vector<header_field> storage(256);
  std::string buf;
  std::size_t fed = 0;
  decoded d;
  for (std::size_t cut : cuts) {
    std::string next = buf + std::string(in.substr(fed, cut - fed));
    std::fill(buf.begin(), buf.end(), '\xff');
    buf = std::move(next);
    fed = cut;
    for (;;) {
      chunk_result r = dec.decode(buf, storage);
      EXPECT_LE(r.consumed, buf.size());
      EXPECT_TRUE(inside(r.data, buf));
      d.body.append(r.data);
      if (r.state == chunk_result::complete) {
        for (auto& f : r.trailers) {
          EXPECT_TRUE(inside(f.name, buf) && inside(f.value, buf));
          d.trailers.emplace_back(f.name, f.value);
        }
        d.state = r.state;
        d.consumed += r.consumed;
        return d;
      }
      if (r.state == chunk_result::error) {
        d.state = r.state;
        d.status = r.status;
        d.reason = r.reason;
        d.consumed = 0;
        return d;
      }
      d.consumed += r.consumed;
      buf.erase(0, r.consumed);
      if (r.state == chunk_result::incomplete) break;
      // A body piece that takes nothing would be handed back for ever.
      if (r.consumed == 0) {
        ADD_FAILURE() << "a body piece consumed no byte";
        return d;
      }
    }
  }
  d.consumed = 0;  // only meaningful once complete
  return d;
}

inline decoded decode_whole(std::string_view in, const chunked_limits& limits = {}) {
  return decode_in_reads(in, {in.size()}, limits);
}

inline void expect_decode_split_invariant(std::string_view in, const chunked_limits& limits = {}) {
  const decoded whole = decode_whole(in, limits);
  for (std::size_t k = 0; k <= in.size(); ++k)
    ASSERT_EQ(decode_in_reads(in, {k, in.size()}, limits), whole) << "split at " << k;
  std::vector<std::size_t> bytewise(in.size());
  for (std::size_t k = 0; k < in.size(); ++k) bytewise[k] = k + 1;
  ASSERT_EQ(decode_in_reads(in, bytewise, limits), whole) << "one byte per read";
}

// Damages `in` 1 to 3 times (by round): overwrites, inserts or deletes a
// byte drawn from `alphabet`. For the split-invariance tests on random input.
template <std::size_t N>
std::string mutate(std::string in, int round, std::mt19937& rng, const char (&alphabet)[N]) {
  for (int m = 0; m < 1 + round % 3; ++m) {
    std::size_t at = rng() % in.size();
    char c = alphabet[rng() % N];
    switch (rng() % 3) {
      case 0:
        in[at] = c;
        break;
      case 1:
        in.insert(in.begin() + static_cast<long>(at), c);
        break;
      default:
        in.erase(at, 1);
    }
  }
  return in;
}

}  // namespace weft::http::parse_test
