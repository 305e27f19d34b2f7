#include "qa_protocol.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

namespace weft::app {
namespace {
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
}  // namespace

qa_frame next_question(std::string_view input, std::size_t limit) noexcept {
  std::size_t skip = 0;
  while (skip < input.size() && is_space(input[skip])) ++skip;
  std::string_view rest = input.substr(skip);
  std::size_t window = rest.size() < limit + 1 ? rest.size() : limit + 1;
  const void* q = std::memchr(rest.data(), '?', window);
  if (q != nullptr) {
    std::size_t len = static_cast<const char*>(q) - rest.data() + 1;
    return {qa_frame::question, rest.substr(0, len), skip + len};
  }
  if (rest.size() > limit) return {qa_frame::too_long, {}, input.size()};
  // Whitespace alone can be dropped now; it can never start a question.
  return {qa_frame::need_more, {}, skip};
}

answer_table answer_table::builtin() {
  answer_table t;
  t.answers_.emplace("What is your name?", "My name is Sir Lancelot of Camelot.");
  t.answers_.emplace("What is your quest?", "To seek the Holy Grail.");
  t.answers_.emplace("What is your favorite color?", "Blue.");
  return t;
}

answer_table answer_table::parse(std::string_view text) {
  answer_table t;
  std::map<std::string_view, std::size_t, std::less<>> first_line;  // of each question
  // A UTF-8 byte order mark, which some editors write, would make the first
  // question one that no client asks.
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::size_t line_no = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto fail = [&](const char* why) {
      throw std::runtime_error("answers line " + std::to_string(line_no) + ": " + why);
    };
    std::size_t tab = line.find('\t');
    if (tab == std::string_view::npos || tab == 0) fail("expected question<TAB>answer");
    std::string_view question = line.substr(0, tab), answer = line.substr(tab + 1);
    // A question is read up to its first '?', after leading whitespace: an
    // entry shaped otherwise could never be asked.
    if (question.find('?') != question.size() - 1) fail("the question must end at its only '?'");
    if (is_space(question.front())) fail("the question starts with whitespace");
    if (question.size() > max_question + 1) fail("the question is longer than a client may send");
    // The book's answers end in '.', where its client stops reading, but the
    // issue asks only for question<TAB>answer lines: "4" is an answer too,
    // sent as it is (an earlier rule that refused it refused files the
    // contract allows, found by review).
    if (answer.empty()) fail("the answer is empty");
    // A lone CR (an old Mac file's line end) merged lines into one entry.
    // TAB is allowed, as before.
    for (char c : answer)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        fail("the answer holds a control byte");
    if (auto [at, fresh] = first_line.try_emplace(question, line_no); !fresh) {
      throw std::runtime_error("answers line " + std::to_string(line_no) +
                               ": the question is answered already on line " +
                               std::to_string(at->second));
    }
    t.answers_.emplace(std::string(question), std::string(answer));
  }
  // Else the built-in answers are replaced with none, and every question
  // is unknown with nothing to say why.
  if (t.answers_.empty()) throw std::runtime_error("answers file holds no question");
  return t;
}

answer_table answer_table::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  // A directory opens, and reads as nothing: an empty table, every answer
  // "unknown question".
  if (!in || std::filesystem::is_directory(path))
    throw std::runtime_error("cannot read answers file '" + path + "'");
  // Read up to a bound: /dev/zero, or gigabytes named by mistake, was read
  // whole, until std::bad_alloc or the machine's memory ran out (found by
  // review). Every question a client can ask, with a long answer, fits.
  std::string all;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    all.append(buf, static_cast<std::size_t>(in.gcount()));
    if (all.size() > max_answers_file)
      throw std::runtime_error("answers file '" + path + "' is too large (over " +
                               std::to_string(max_answers_file >> 20) + " MiB)");
  }
  return parse(all);
}

std::string_view answer_table::answer(std::string_view question) const {
  auto it = answers_.find(question);
  return it == answers_.end() ? unknown_answer : std::string_view(it->second);
}

}  // namespace weft::app
