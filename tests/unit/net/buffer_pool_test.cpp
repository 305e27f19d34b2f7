// The I/O buffer pool (src/net/buffer_pool.cpp): per thread, blocks go back
// to it and come out again without malloc, and a thread's blocks are freed
// when the thread ends (LeakSanitizer fails the ASan run otherwise).

#include <weft/net/buffer.hpp>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

using namespace weft::detail;

TEST(buffer_pool, a_released_block_is_the_next_one_acquired) {
  char* a = pool_acquire();
  std::size_t before = pool_free_blocks();
  pool_release(a);
  EXPECT_EQ(pool_free_blocks(), before + 1);
  EXPECT_EQ(pool_acquire(), a);  // last in, first out: the block still in cache
  EXPECT_EQ(pool_free_blocks(), before);
  pool_release(a);
}

TEST(buffer_pool, each_thread_has_its_own_pool_and_frees_it_when_it_ends) {
  std::size_t here = pool_free_blocks();
  std::size_t there = 0;
  std::thread t([&there] {
    std::vector<char*> blocks;
    for (int i = 0; i < 3; ++i) blocks.push_back(pool_acquire());
    for (char* b : blocks) pool_release(b);
    there = pool_free_blocks();
  });
  t.join();
  EXPECT_EQ(there, 3u);
  EXPECT_EQ(pool_free_blocks(), here);
}

TEST(buffer_pool, an_io_buffer_holds_no_block_once_emptied) {
  io_buffer b;
  b.append("abc");
  ASSERT_TRUE(b.has_block());
  std::size_t pooled = pool_free_blocks();
  b.consume(3);
  b.release_if_empty();
  EXPECT_FALSE(b.has_block());
  EXPECT_EQ(pool_free_blocks(), pooled + 1);
}
