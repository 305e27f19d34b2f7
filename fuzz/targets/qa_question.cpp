// The question framing of `weft qa` (app::next_question). Input: a split
// selector byte, a limit byte, then the bytes a client sends. Asserts that
// the questions found are the same whether the bytes arrive in one read or
// two, and match a naive reading of the rule: skip whitespace, take through
// the first '?', and give up after more than `limit` bytes without one.

#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "qa_protocol.hpp"

namespace {

using weft::app::next_question;
using weft::app::qa_frame;

struct questions {
  std::vector<std::string> asked;
  bool too_long = false;
  bool operator==(const questions&) const = default;
};

// As qa.cpp's connection does: frame what is buffered, keep the rest.
questions frame(const std::vector<std::string_view>& reads, std::size_t limit) {
  questions q;
  std::string buf;
  for (std::string_view read : reads) {
    buf += read;
    std::string_view rest = buf;
    for (;;) {
      qa_frame f = next_question(rest, limit);
      FUZZ_CHECK(f.consumed <= rest.size());
      rest.remove_prefix(f.consumed);
      if (f.what == qa_frame::need_more) break;
      if (f.what == qa_frame::too_long) {
        q.too_long = true;
        return q;
      }
      FUZZ_CHECK(!f.text.empty() && f.text.back() == '?' && f.text.find('?') == f.text.size() - 1);
      FUZZ_CHECK(f.text.size() <= limit + 1);
      q.asked.emplace_back(f.text);
    }
    buf.erase(0, buf.size() - rest.size());
  }
  return q;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

questions naive(std::string_view in, std::size_t limit) {
  questions q;
  for (;;) {
    while (!in.empty() && is_space(in.front())) in.remove_prefix(1);
    std::size_t mark = in.find('?');
    std::size_t before = mark == std::string_view::npos ? in.size() : mark;
    if (before > limit) {
      q.too_long = true;
      return q;
    }
    if (mark == std::string_view::npos) return q;
    q.asked.emplace_back(in.substr(0, mark + 1));
    in.remove_prefix(mark + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::string_view bytes = weft::fuzz::as_text(data + 2, size - 2);
  // The real limit (4096) half the time; a small one reaches too_long often.
  std::size_t limit = data[1] & 1 ? data[1] / 2u : weft::app::max_question;
  std::size_t split = weft::fuzz::split_at(data[0], bytes.size());
  questions whole = frame({bytes}, limit);
  FUZZ_CHECK(whole == frame({bytes.substr(0, split), bytes.substr(split)}, limit));
  FUZZ_CHECK(whole == naive(bytes, limit));
  return 0;
}
