// memory_budget: bytes taken while they fit, given back by their holder.
#include <weft/http/memory_budget.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

using weft::http::memory_budget;

TEST(memory_budget, takes_what_fits_and_nothing_of_what_does_not) {
  memory_budget b(100);
  EXPECT_TRUE(b.try_take(60));
  EXPECT_FALSE(b.try_take(41));
  EXPECT_EQ(b.in_use(), 60u);
  EXPECT_TRUE(b.try_take(40));
  EXPECT_FALSE(b.try_take(1));
  b.give_back(100);
  EXPECT_EQ(b.in_use(), 0u);
  EXPECT_FALSE(b.try_take(101));
  EXPECT_FALSE(b.try_take(UINT64_MAX)) << "no wrap past the size";
  EXPECT_EQ(b.in_use(), 0u);
}

TEST(memory_budget, a_lease_gives_back_all_it_took_when_it_goes) {
  memory_budget b(100);
  {
    memory_budget::lease l(&b);
    EXPECT_TRUE(l.take(30));
    EXPECT_TRUE(l.take(30));
    EXPECT_FALSE(l.take(50));
    EXPECT_EQ(l.held(), 60u);
    memory_budget::lease moved = std::move(l);
    EXPECT_EQ(moved.held(), 60u);
    EXPECT_EQ(b.in_use(), 60u);
  }
  EXPECT_EQ(b.in_use(), 0u);
  memory_budget::lease none;  // no budget: takes without counting
  EXPECT_TRUE(none.take(UINT64_MAX));
}

// Loops on several threads share one budget: what they take together
// never passes its size, counted apart from the budget's own count, while
// each takes until refused (taking and giving back at once, they held 28
// bytes of the 1,000 at most, and a budget blind to its size passed; found
// by review).
TEST(memory_budget, threads_sharing_one_never_take_past_its_size) {
  memory_budget b(1000);
  std::atomic<std::uint64_t> held{0}, most{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int round = 0; round < 2000; ++round) {
        std::uint64_t mine = 0;
        while (b.try_take(7)) {
          mine += 7;
          std::uint64_t now = held += 7;
          for (std::uint64_t m = most; now > m && !most.compare_exchange_weak(m, now);) {
          }
        }
        ++refused;
        held -= mine;
        b.give_back(mine);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(b.in_use(), 0u);
  EXPECT_LE(most, 1000u);
  EXPECT_GT(most, 1000u - 4 * 7) << "the threads never came near the size";
  EXPECT_EQ(refused, 4 * 2000);
}
