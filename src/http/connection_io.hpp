#pragma once
// The connection's timed reads, shared by the server loop (server.cpp) and
// a request body's reader (request_body.cpp): each waits under the one
// deadline of the connection's green thread, and tells a timeout from EOF.
// Loop thread of the connection.

#include <weft/http/header_field.hpp>
#include <weft/http/server.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/deadline.hpp>

#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace weft::http::detail {

enum class read_outcome { ok, eof, timeout };

// Awaits a stream operation under the connection's one deadline, moved to
// `until`: timeout when the deadline cancels it, eof when a read finds the
// peer's end. An awaiter in the caller's frame, not a coroutine: a
// keep-alive request waits for input once per request, and a coroutine
// frame, its allocation and a second await made that wait cost ~280 more
// instructions (2,434 against 2,152 per request with one request per read,
// bench/http/instructions.sh).
template <class Op>
struct timed {
  deadline& dl;
  time_point until;
  Op op;

  bool await_ready() {
    dl.expires_at(until);
    return op.await_ready();
  }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> caller) {
    return op.await_suspend(caller);
  }
  read_outcome await_resume() {
    bool eof = false;
    try {
      if constexpr (std::is_void_v<decltype(op.await_resume())>)
        op.await_resume();
      else
        eof = op.await_resume() == 0;
    } catch (const std::system_error& e) {
      // Cleared either way: left armed after another scope's cancellation
      // (a handler's with_timeout around its read), it went on to cancel
      // whatever the green thread awaited next (found by review).
      if (dl.expired() && e.code() == std::errc::operation_canceled) {
        dl.clear();
        return read_outcome::timeout;
      }
      dl.clear();
      throw;
    }
    dl.clear();
    return eof ? read_outcome::eof : read_outcome::ok;
  }
};

inline timed<tcp_stream::read_some_op> read_by(tcp_stream& s, deadline& dl, time_point until,
                                               std::size_t cap) {
  return {dl, until, s.read_more(cap)};
}

// Marks the connection idle or busy while it is tracked: the tracker may go
// first (connection_tracker). Idle means between requests with nothing owed:
// a drain's close_idle closes such a connection. Marked idle as soon as an
// answer was made, one whose answers a slow reader had yet to take was
// closed over them (found by review).
inline void mark_idle(connection_tracker::entry* e, bool idle, time_point now) noexcept {
  if (e->tracker) e->tracker->set_idle(e, idle, now);
}

// Sends the pending output under the write timeout.
inline timed<tcp_stream::write_op> flush_by(tcp_stream& s, deadline& dl,
                                            const server_options& opts) {
  return {dl, saturating_add(s.owner().now(), opts.write_timeout), s.flush()};
}

// Reads more bytes before `until`, after sending pending output under the
// write timeout. Where the output all leaves at the first try, as nearly
// always, the caller awaits read_by alone and arms no write timeout.
inline task<read_outcome> read_before(tcp_stream& s, deadline& dl, time_point until,
                                      std::size_t cap, const server_options& opts) {
  if (s.buffered_output() > 0) {
    if (auto r = co_await flush_by(s, dl, opts); r != read_outcome::ok) co_return r;
  }
  co_return co_await read_by(s, dl, until, cap);
}

struct owned_fields {
  std::string blob;
  std::vector<header_field> fields;
  void copy(std::span<const header_field> in) {
    std::size_t total = 0;
    for (const auto& f : in) total += f.name.size() + f.value.size();
    blob.reserve(total);
    for (const auto& f : in) {
      blob += f.name;
      blob += f.value;
    }
    std::size_t pos = 0;
    fields.clear();
    for (const auto& f : in) {
      std::string_view n(blob.data() + pos, f.name.size());
      pos += f.name.size();
      std::string_view v(blob.data() + pos, f.value.size());
      pos += f.value.size();
      fields.push_back({n, v});
    }
  }
};

}  // namespace weft::http::detail
