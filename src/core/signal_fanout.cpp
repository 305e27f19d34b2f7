#include "core/signal_fanout.hpp"

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

namespace weft::detail {
namespace {

struct asking {
  loop* l;
  std::uint64_t signals;
  std::thread::id thread;  // whose mask on_signals set
};

// Few entries (one per loop that asked for signals): a vector, searched.
struct fanout_list {
  std::mutex mu;
  std::vector<asking> loops;
};

// Never destroyed: a loop with static storage may leave it at exit, after
// the statics made later than it are gone.
fanout_list& the_list() {
  static auto* list = new fanout_list;
  return *list;
}

}  // namespace

void signal_fanout::want(loop& l, std::uint64_t signals) {
  fanout_list& list = the_list();
  std::lock_guard lock(list.mu);
  auto it = std::find_if(list.loops.begin(), list.loops.end(),
                         [&](const asking& a) { return a.l == &l; });
  if (it != list.loops.end()) {
    if (signals == 0)
      list.loops.erase(it);
    else
      *it = {&l, signals, std::this_thread::get_id()};
  } else if (signals != 0) {
    list.loops.push_back({&l, signals, std::this_thread::get_id()});
  }
}

std::uint64_t signal_fanout::hand_over(loop& l, std::uint64_t blocked) {
  fanout_list& list = the_list();
  std::lock_guard lock(list.mu);
  const std::thread::id here = std::this_thread::get_id();
  for (asking& a : list.loops) {
    std::uint64_t kept = blocked & a.signals;
    if (a.l == &l || a.thread != here || kept == 0) continue;
    a.l->signals_we_blocked_ |= kept;  // same thread: its loop's member is ours to touch
    blocked &= ~kept;
  }
  return blocked;
}

void signal_fanout::spread(const loop& reader, int sig) {
  fanout_list& list = the_list();
  std::lock_guard lock(list.mu);
  for (const asking& a : list.loops)
    if (a.l != &reader && (a.signals & signal_bit(sig)) != 0) {
      loop* l = a.l;
      l->post([l, sig] { deliver(*l, sig); });
    }
}

void signal_fanout::deliver(loop& l, int sig) {
  if ((l.signals_wanted_ & signal_bit(sig)) == 0) return;
  // Run a copy: the handler may call on_signals, which replaces (and
  // destroyed, while it ran) the one stored.
  if (auto handler = l.on_signal_) handler(sig);
}

}  // namespace weft::detail
