#include "http/fixed_answer.hpp"

#include <atomic>
#include <stdexcept>

namespace weft::http::detail {

std::shared_ptr<const fixed_answer> make_fixed_answer(const response& res) {
  if (res.producer() || res.file())
    throw std::invalid_argument("router: a fixed answer needs a string body, sent many times");
  if (res.status() < 200 || res.status() > 599)
    throw std::invalid_argument("router: a fixed answer needs a final status, 200 to 599");
  if (res.body().size() > copied_body_max) return nullptr;
  static std::atomic<std::uint64_t> made{0};
  auto a = std::make_shared<fixed_answer>();
  a->id = made.fetch_add(1, std::memory_order_relaxed) + 1;  // 0: no answer
  a->status = res.status();
  a->sets_date = res.sets_date();
  a->closes = res.closes();
  // Framed as put_response frames it.
  a->has_content = has_content(a->status);
  char line[40];
  a->fields.assign(line, put_length_line(line, a->status, res.body().size()));
  a->fields += res.header_block();
  if (a->has_content) a->body = res.body();
  // "HTTP/1.1 200 OK\r\n", "Date: <29 bytes>\r\n", and
  // "Connection: keep-alive\r\n" or the shorter "Connection: close\r\n".
  constexpr std::size_t date_line = 37, connection_line = 24;
  std::size_t status_line = 15 + reason_phrase(a->status).size();
  a->most = status_line + date_line + connection_line + 2 + a->fields.size() + a->body.size();
  return a;
}

}  // namespace weft::http::detail
