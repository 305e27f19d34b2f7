#include "qa_protocol.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>

using namespace weft::app;

TEST(qa_protocol, question_runs_to_the_first_question_mark) {
  qa_frame f = next_question("What is your name?What");
  EXPECT_EQ(f.what, qa_frame::question);
  EXPECT_EQ(f.text, "What is your name?");
  EXPECT_EQ(f.consumed, 18u);
}

TEST(qa_protocol, leading_whitespace_is_skipped) {
  qa_frame f = next_question(" \r\n\tWhat is your quest?");
  EXPECT_EQ(f.text, "What is your quest?");
  EXPECT_EQ(f.consumed, 23u);
}

TEST(qa_protocol, incomplete_question_needs_more_and_keeps_its_bytes) {
  qa_frame f = next_question("  What is");
  EXPECT_EQ(f.what, qa_frame::need_more);
  EXPECT_EQ(f.consumed, 2u);  // only the whitespace may go
}

TEST(qa_protocol, too_long_without_question_mark) {
  std::string at_limit(4096, 'a');
  EXPECT_EQ(next_question(at_limit).what, qa_frame::need_more);
  EXPECT_EQ(next_question(at_limit + "?").what, qa_frame::question);
  EXPECT_EQ(next_question(at_limit + "a").what, qa_frame::too_long);
  EXPECT_EQ(next_question(at_limit + "a?").what, qa_frame::too_long);
}

TEST(qa_protocol, result_is_the_same_however_input_is_split) {
  std::string input = "What is your name? What is your quest?\nWho?";
  std::vector<std::string> whole;
  std::string_view rest = input;
  for (;;) {
    qa_frame f = next_question(rest);
    rest.remove_prefix(f.consumed);
    if (f.what != qa_frame::question) break;
    whole.emplace_back(f.text);
  }
  ASSERT_EQ(whole, (std::vector<std::string>{"What is your name?", "What is your quest?", "Who?"}));
  for (size_t split = 0; split <= input.size(); ++split) {
    std::vector<std::string> got;
    std::string buffer;
    for (std::string_view part :
         {std::string_view(input).substr(0, split), std::string_view(input).substr(split)}) {
      buffer += part;
      std::string_view view = buffer;
      for (;;) {
        qa_frame f = next_question(view);
        view.remove_prefix(f.consumed);
        if (f.what != qa_frame::question) break;
        got.emplace_back(f.text);
      }
      buffer.erase(0, buffer.size() - view.size());
    }
    EXPECT_EQ(got, whole) << "split at " << split;
  }
}

TEST(qa_protocol, builtin_table_has_the_books_answers) {
  answer_table t = answer_table::builtin();
  EXPECT_EQ(t.answer("What is your name?"), "My name is Sir Lancelot of Camelot.");
  EXPECT_EQ(t.answer("What is your quest?"), "To seek the Holy Grail.");
  EXPECT_EQ(t.answer("What is your favorite color?"), "Blue.");
  EXPECT_EQ(t.answer("Why?"), "Error: unknown question.");
}

// The book's answers end in '.', but the file format asks only for
// question<TAB>answer: an answer that ends otherwise is sent as it is (it
// was refused, found by review).
TEST(qa_protocol, an_answer_need_not_end_in_a_full_stop) {
  answer_table t = answer_table::parse("What is 2+2?\t4\nReally?\tAfrican or European?\n");
  EXPECT_EQ(t.answer("What is 2+2?"), "4");
  EXPECT_EQ(t.answer("Really?"), "African or European?");
}

TEST(qa_protocol, answers_file_parses_tab_separated_lines) {
  answer_table t = answer_table::parse("Ping?\tPong.\r\n\nAnswer?\tWith\ttabs.\n");
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.answer("Ping?"), "Pong.");
  EXPECT_EQ(t.answer("Answer?"), "With\ttabs.");
  EXPECT_THROW(answer_table::parse("no tab here\n"), std::runtime_error);
}

// An entry that no question could ever reach, or an empty answer, is a
// mistake in the file: refused at start, with its line number, rather than
// served silently.
TEST(qa_protocol, answers_file_refuses_entries_that_can_never_match) {
  for (std::string_view bad : {"No mark\tx.\n", "Two?marks?\tx.\n", "  Lead?\tx.\n",
                               "\tLead?\tx.\n", "Empty?\t\n", "Ok?\tfine.\nBad\tx.\n"}) {
    EXPECT_THROW(answer_table::parse(bad), std::runtime_error) << bad;
  }
  try {
    answer_table::parse("Ok?\tfine.\nBad\tx.\n");
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
}

// Mistakes a file shows only when read closely are refused as well: a
// question answered twice (the last answer won, silently), and a control
// byte in an answer, such as the lone CRs of an old Mac file, which merged
// its lines into one entry that still ended in '.'. A UTF-8 byte order mark,
// which some editors write, is skipped: it made the first question one no
// client would ask.
TEST(qa_protocol, answers_file_refuses_duplicates_and_control_bytes_and_skips_a_bom) {
  try {
    answer_table::parse("Ping?\tPong.\nOther?\tx.\nPing?\tPang.\n");
    ADD_FAILURE() << "a question answered twice was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(answer_table::parse("A?\tX.\rB?\tY.\n"), std::runtime_error);
  EXPECT_THROW(answer_table::parse("A?\tX\x01.\n"), std::runtime_error);
  answer_table t = answer_table::parse("\xEF\xBB\xBFHi?\tHello.\n");
  EXPECT_EQ(t.answer("Hi?"), "Hello.");
}

// A file with no entry at all (empty, blank lines, a byte order mark
// alone) replaced the built-in answers with none: every question was
// unknown, and nothing said why.
TEST(qa_protocol, an_answers_file_without_a_question_is_refused) {
  for (std::string_view empty : {"", "\n", "\r\n\n", "\xEF\xBB\xBF"})
    EXPECT_THROW(answer_table::parse(empty), std::runtime_error) << empty.size() << " bytes";
}

TEST(qa_protocol, an_answers_path_that_is_a_directory_is_refused) {
  EXPECT_THROW(answer_table::load("/tmp"), std::runtime_error);
}
