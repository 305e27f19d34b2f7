#include <weft/core/loop.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>

weft::task<void> tick(bool* done) {
  co_await weft::sleep(std::chrono::milliseconds(1));
  *done = true;
}

int main() {
  weft::loop l;
  bool done = false;
  weft::spawn(l, tick(&done), "tick");
  for (int i = 0; i < 100 && !done; ++i) l.run_once(std::chrono::milliseconds(10));
  return done ? 0 : 1;
}
