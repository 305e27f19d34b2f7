#pragma once
// The question/answer protocol of `weft qa`, as pure functions of bytes
// (no I/O), so it can be table-tested and fuzzed.
//
// A question is the bytes up to and including the first '?', after skipping
// leading whitespace. More than max_question bytes without a '?' is an error.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace weft::app {

inline constexpr std::size_t max_question = 4096;
inline constexpr std::size_t max_answers_file = std::size_t{64} << 20;  // bytes
inline constexpr std::string_view unknown_answer = "Error: unknown question.";
inline constexpr std::string_view too_long_answer = "Error: question too long.";

struct qa_frame {
  enum kind { question, need_more, too_long } what;
  std::string_view text;  // the question, with its '?'
  std::size_t consumed;   // bytes to drop from the input (whitespace + question)
};

// Finds the next question at the start of `input`.
qa_frame next_question(std::string_view input, std::size_t limit = max_question) noexcept;

class answer_table {
 public:
  // The three from "Foundations of Python Network Programming".
  static answer_table builtin();
  // One "question<TAB>answer" per line; throws std::runtime_error on a bad line.
  static answer_table parse(std::string_view text);
  static answer_table load(const std::string& path);

  std::string_view answer(std::string_view question) const;
  std::size_t size() const noexcept { return answers_.size(); }

 private:
  std::map<std::string, std::string, std::less<>> answers_;
};

}  // namespace weft::app
