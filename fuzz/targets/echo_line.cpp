// The line framing of `weft echo` (detail::scan_line, as tcp_stream::
// read_until uses it). Input: a split selector byte, a max-line byte, then
// the bytes a client sends before EOF. Asserts that the echoed bytes are the
// same whether they arrive in one read or two, and match a naive splitter:
// every byte back in order, up to a line over the limit.

#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "net/scan_line.hpp"

namespace {

using weft::detail::line_scan;
using weft::detail::scan_line;

struct echoed {
  std::string out;
  bool too_long = false;
  bool operator==(const echoed&) const = default;
};

// As read_until does it: scan what is buffered, remember how far, read more.
echoed frame(const std::vector<std::string_view>& reads, std::size_t max) {
  echoed e;
  std::string buf;
  std::size_t scanned = 0;
  for (std::string_view read : reads) {
    buf += read;
    for (;;) {
      line_scan r = scan_line(buf, scanned, '\n', max);
      if (r.what == line_scan::too_long) {
        e.too_long = true;
        return e;
      }
      if (r.what == line_scan::need_more) {
        FUZZ_CHECK(r.scanned == buf.size() && buf.size() <= max);
        scanned = r.scanned;
        break;
      }
      FUZZ_CHECK(r.len >= 1 && r.len - 1 <= max && buf.find('\n') == r.len - 1);
      e.out += buf.substr(0, r.len);
      buf.erase(0, r.len);
      scanned = 0;
    }
  }
  e.out += buf;  // EOF: the partial line goes back too
  return e;
}

echoed naive(std::string_view in, std::size_t max) {
  echoed e;
  while (!in.empty()) {
    std::size_t nl = in.find('\n');
    std::size_t body = nl == std::string_view::npos ? in.size() : nl;
    if (body > max) {
      e.too_long = true;
      break;
    }
    std::size_t take = nl == std::string_view::npos ? in.size() : nl + 1;
    e.out += in.substr(0, take);
    in.remove_prefix(take);
  }
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::string_view bytes = weft::fuzz::as_text(data + 2, size - 2);
  std::size_t max = data[1];
  std::size_t split = weft::fuzz::split_at(data[0], bytes.size());
  echoed whole = frame({bytes}, max);
  FUZZ_CHECK(whole == frame({bytes.substr(0, split), bytes.substr(split)}, max));
  FUZZ_CHECK(whole == naive(bytes, max));
  return 0;
}
