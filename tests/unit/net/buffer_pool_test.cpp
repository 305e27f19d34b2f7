// The I/O buffer pool (src/net/buffer_pool.cpp): per thread, blocks go back
// to it and come out again without malloc, and a thread's blocks are freed
// when the thread ends (LeakSanitizer fails the ASan run otherwise).

#include <weft/net/buffer.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
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

// Before a wait: a few bytes move out of the pooled block into one of their
// own size, and the next reserve moves them back into a pooled block. More
// than small_held bytes, or a block that is not a pooled one, stay put.
TEST(buffer_pool, a_few_bytes_wait_in_a_block_of_their_own) {
  io_buffer b;
  b.append(std::string(600, 'x') + "abcdef");
  b.consume(600);
  std::size_t pooled = pool_free_blocks();
  b.shrink_for_wait();
  EXPECT_EQ(b.capacity(), 6u);
  EXPECT_EQ(pool_free_blocks(), pooled + 1);
  EXPECT_EQ(b.view(), "abcdef");
  b.reserve(1, SIZE_MAX);
  EXPECT_EQ(b.capacity(), pool_block_size);
  EXPECT_EQ(pool_free_blocks(), pooled);
  EXPECT_EQ(b.view(), "abcdef");

  io_buffer big;
  big.append(std::string(io_buffer::small_held + 1, 'y'));
  big.shrink_for_wait();
  EXPECT_EQ(big.capacity(), pool_block_size);
  io_buffer empty;
  empty.append("q");
  empty.consume(1);
  empty.shrink_for_wait();
  EXPECT_FALSE(empty.has_block());
}

// A buffer grown past the pool (a long line or head) that holds only what
// came after it waits in a block that fits: a few bytes in their own, up to
// a pooled block's worth in one. It kept its whole capacity, 64 KiB a
// connection for as long as its idle or head timeout, after one long line
// and the start of the next (found by review). More than a pooled block, a
// long line still coming in, stays put.
TEST(buffer_pool, a_grown_buffer_waits_in_a_block_that_fits_what_it_holds) {
  const std::string line(4 * pool_block_size, 'z');
  io_buffer few;
  few.append(line + "abc");
  few.consume(line.size());
  few.shrink_for_wait();
  EXPECT_EQ(few.capacity(), 3u);
  EXPECT_EQ(few.view(), "abc");

  io_buffer some;
  some.append(line + std::string(io_buffer::small_held + 1, 'y'));
  some.consume(line.size());
  some.shrink_for_wait();
  EXPECT_EQ(some.capacity(), pool_block_size);
  EXPECT_EQ(some.view(), std::string(io_buffer::small_held + 1, 'y'));

  io_buffer coming;
  coming.append(line + std::string(pool_block_size + 1, 'w'));
  coming.consume(line.size());
  std::size_t held = coming.capacity();
  coming.shrink_for_wait();
  EXPECT_EQ(coming.capacity(), held);
  EXPECT_EQ(coming.size(), pool_block_size + 1);
}

// Output left by a short send waits for room in a block of its own size
// when its block is more than twice that: a batch of answers grown to
// 128 KiB and sent but for a few KiB held the whole block for as long as
// its client did not read (see tcp_stream::flush_limit). More than half a
// block stays where it is.
TEST(buffer_pool, output_that_waits_for_room_moves_to_a_block_of_its_own_size) {
  io_buffer grown;
  grown.append(std::string(100000, 'a') + "tail");
  grown.consume(100000);
  grown.settle_output();
  EXPECT_EQ(grown.capacity(), 4u);
  EXPECT_EQ(grown.view(), "tail");

  io_buffer pooled;
  pooled.append(std::string(5000, 'b'));
  pooled.settle_output();
  EXPECT_EQ(pooled.capacity(), 5000u);
  EXPECT_EQ(pooled.view(), std::string(5000, 'b'));
  pooled.append("c");  // and grows again as any buffer does
  EXPECT_EQ(pooled.view(), std::string(5000, 'b') + "c");

  io_buffer most;
  most.append(std::string(pool_block_size / 2 + 1, 'd'));
  most.settle_output();
  EXPECT_EQ(most.capacity(), pool_block_size);

  io_buffer block_sized;  // would pass for a pooled block when freed
  block_sized.append(std::string(3 * pool_block_size, 'e'));
  block_sized.consume(2 * pool_block_size);
  std::size_t held = block_sized.capacity();
  block_sized.settle_output();
  EXPECT_EQ(block_sized.capacity(), held);
  EXPECT_EQ(block_sized.size(), pool_block_size);
}

// reserve's cases, the first two inline: an empty buffer takes a pooled
// block; room already there changes nothing; then it compacts before it
// grows, and grows past the pool only up to the limit (or what it must hold).
TEST(buffer_pool, reserve_takes_a_pooled_block_then_compacts_then_grows) {
  io_buffer b;
  b.reserve(100, SIZE_MAX);
  EXPECT_EQ(b.capacity(), pool_block_size);
  const char* block = b.write_ptr();

  b.commit(pool_block_size - 10);
  b.reserve(10, SIZE_MAX);  // exactly the room left
  EXPECT_EQ(b.write_ptr(), block + pool_block_size - 10);

  b.consume(100);
  std::memset(b.write_ptr() - 1, 'z', 1);  // the last byte held
  b.reserve(50, SIZE_MAX);                 // 10 free at the end, 100 at the front: compact
  EXPECT_EQ(b.capacity(), pool_block_size);
  EXPECT_EQ(b.data(), block);
  EXPECT_EQ(b.view().back(), 'z');

  b.reserve(pool_block_size, 3 * pool_block_size);  // twice the capacity, within the limit
  EXPECT_EQ(b.capacity(), 2 * pool_block_size);
  EXPECT_EQ(b.view().back(), 'z');
  EXPECT_EQ(b.size(), pool_block_size - 110);

  io_buffer big;
  big.reserve(pool_block_size + 1, SIZE_MAX);  // more than a pooled block holds
  EXPECT_EQ(big.capacity(), pool_block_size + 1);
  std::size_t pooled = pool_free_blocks();
  big = io_buffer();  // not a pooled block: freed, not pooled
  EXPECT_EQ(pool_free_blocks(), pooled);
}
