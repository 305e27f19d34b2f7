// file_cache: what a loop's cache of open files holds, and for how long.
// It must never keep a descriptor past its entry's lifetime for long, nor
// keep one that the process needs: a large file's entry holds its fd.
#include "http/file_cache.hpp"

#include "test_util.hpp"

#include <weft/http/static_files.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

namespace weft::http::detail {
namespace {

using namespace std::chrono_literals;

class file_cache_test : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/weft-file-cache-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    root_fd_ = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root_fd_, 0);
  }
  void TearDown() override {
    ::close(root_fd_);
    std::filesystem::remove_all(root_);
  }
  // A file too large to be held in memory: its entry keeps a descriptor.
  void write_large(const std::string& name) {
    std::FILE* f = std::fopen((root_ + "/" + name).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::string bytes(file_cache_small_file + 1, 'x');
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  // Writes `bytes` over the file at `path`, in place (O_TRUNC).
  static bool write_file(const std::string& path, const std::string& bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return false;
    bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    return std::fclose(f) == 0 && ok;
  }
  // Loads f.txt, ten bytes when it was opened and stat'ed, as `bytes`
  // written over it in place (same inode) after the stat, modified at
  // `mtime_s` when that is given.
  bool load_rewritten(const std::string& bytes, file_info& out, std::time_t mtime_s = 0) {
    const std::string path = root_ + "/f.txt";
    if (!write_file(path, "0123456789")) return false;
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct ::stat before {};
    if (!fd || ::fstat(fd.get(), &before) != 0 || !write_file(path, bytes)) return false;
    timespec times[2] = {{mtime_s, 0}, {mtime_s, 0}};
    if (mtime_s != 0 && ::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) return false;
    return load_file_info(std::move(fd), before, "f.txt", clock::now(), out) == 0;
  }
  // How many of this process's descriptors name `name` in the root.
  int fds_open_on(const std::string& name) const {
    int n = 0;
    std::string want = root_ + "/" + name;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      std::string target = std::filesystem::read_symlink(e.path(), ec).string();
      if (!ec && target.starts_with(want)) ++n;  // also "... (deleted)"
    }
    return n;
  }
  std::string root_;
  int root_fd_ = -1;
};

// A small file is read whole into memory, after the fstat that its ETag
// and Last-Modified come from. One rewritten between the two was served
// with the new bytes under the old validators (found by review): a client
// holding the old version got 304 for it, or a range of the new bytes
// spliced onto its old ones by If-Range. Here the stat is from before the
// rewrite, as a rewrite just after open_beneath's fstat would leave it.
TEST_F(file_cache_test, a_small_file_rewritten_after_its_stat_is_described_by_the_bytes_read) {
  file_info stale, fresh;
  // The same size: only the modification time tells the versions apart.
  ASSERT_TRUE(load_rewritten("abcdefghij", stale, 1'000'000'000));
  unique_fd again(::openat(root_fd_, "f.txt", O_RDONLY | O_CLOEXEC));
  struct ::stat now {};
  ASSERT_EQ(::fstat(again.get(), &now), 0);
  ASSERT_EQ(load_file_info(std::move(again), now, "f.txt", clock::now(), fresh), 0);

  ASSERT_NE(stale.bytes, nullptr);
  EXPECT_EQ(*stale.bytes, "abcdefghij");
  EXPECT_EQ(stale.etag, fresh.etag);
  EXPECT_EQ(stale.lines, fresh.lines);  // Last-Modified too
}

// One that grew past the small-file size since its stat is served as a
// large file, through its descriptor, by the stat taken after the read.
TEST_F(file_cache_test, a_small_file_grown_large_after_its_stat_is_held_as_a_large_one) {
  file_info f;
  ASSERT_TRUE(load_rewritten(std::string(file_cache_small_file + 1, 'x'), f));
  EXPECT_EQ(f.bytes, nullptr);
  EXPECT_TRUE(f.fd);
  EXPECT_EQ(f.v.size, file_cache_small_file + 1);
}

TEST_F(file_cache_test, a_large_files_entry_holds_its_descriptor_while_fresh) {
  write_large("big.bin");
  file_cache cache;
  int err = 0;
  time_point t0 = clock::now();
  ASSERT_NE(cache.open(root_fd_, "big.bin", t0, true, false, err), nullptr);
  EXPECT_EQ(fds_open_on("big.bin"), 1);
  ASSERT_NE(cache.open(root_fd_, "big.bin", t0 + file_cache_ttl / 2, true, false, err), nullptr);
  EXPECT_EQ(fds_open_on("big.bin"), 1) << "a hit opens nothing";
}

// A hit on a large file checks its descriptor (fstat) once a loop turn:
// the requests of one turn share the check, which had cost each 16 KiB
// response 3.7% of the server's core (perf, bench/files small). A rewrite
// in place is seen from the next turn (a new `now`) on.
TEST_F(file_cache_test, a_large_files_check_is_shared_by_the_hits_of_one_loop_turn) {
  write_large("big.bin");
  file_cache cache;
  int err = 0;
  time_point turn = clock::now();
  ASSERT_NE(cache.open(root_fd_, "big.bin", turn, true, false, err), nullptr);
  ASSERT_TRUE(write_file(root_ + "/big.bin", std::string(file_cache_small_file + 2, 'y')));

  const file_info* same_turn = cache.open(root_fd_, "big.bin", turn, true, false, err);
  ASSERT_NE(same_turn, nullptr);
  EXPECT_EQ(same_turn->v.size, file_cache_small_file + 1);
  const file_info* next_turn = cache.open(root_fd_, "big.bin", turn + 1ns, true, false, err);
  ASSERT_NE(next_turn, nullptr);
  EXPECT_EQ(next_turn->v.size, file_cache_small_file + 2);
}

// An expired entry was dropped only when its own path was asked for again
// (or the cache filled): a deleted or replaced large file stayed open, its
// disk space pinned, for as long as nobody asked for that path.
TEST_F(file_cache_test, an_expired_entry_is_closed_when_another_file_is_asked_for) {
  write_large("big.bin");
  write_large("other.bin");
  file_cache cache;
  int err = 0;
  time_point t0 = clock::now();
  ASSERT_NE(cache.open(root_fd_, "big.bin", t0, true, false, err), nullptr);
  ASSERT_EQ(::unlink((root_ + "/big.bin").c_str()), 0);
  ASSERT_NE(cache.open(root_fd_, "other.bin", t0 + file_cache_ttl + 1ms, true, false, err),
            nullptr);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(fds_open_on("big.bin"), 0) << "the deleted file is still held open";
}

// Out of descriptors, the cache's own are the ones that can be given back:
// without that, a loop whose cache held descriptors when the process reached
// RLIMIT_NOFILE answered 500 to every new file until the limit was raised.
// The small files' bytes hold none, and stay (a scan of large files threw
// them away with the descriptors).
TEST_F(file_cache_test, out_of_descriptors_it_gives_back_its_own_and_opens_the_file) {
  for (const char* name : {"a.bin", "b.bin", "c.bin", "d.bin"}) write_large(name);
  std::FILE* small = std::fopen((root_ + "/s.txt").c_str(), "wb");
  ASSERT_NE(small, nullptr);
  std::fputs("small", small);
  std::fclose(small);
  file_cache cache;
  int err = 0;
  time_point t0 = clock::now();
  ASSERT_NE(cache.open(root_fd_, "s.txt", t0, true, false, err), nullptr);
  for (const char* name : {"a.bin", "b.bin", "c.bin"})
    ASSERT_NE(cache.open(root_fd_, name, t0, true, false, err), nullptr);
  {
    // An entry's shared descriptor let go once before the table is full:
    // UBSan's type check opens a pipe the first time it meets the type, and
    // failed ("invalid vptr") under EMFILE, on the releases below.
    file_cache once;
    ASSERT_NE(once.open(root_fd_, "a.bin", t0, true, false, err), nullptr);
  }
  const file_info* f = nullptr;
  {
    test::descriptors_used_up used_up;
    f = cache.open(root_fd_, "d.bin", t0, true, false, err);
  }
  ASSERT_NE(f, nullptr) << "errno " << err;
  EXPECT_TRUE(f->fd);
  EXPECT_EQ(fds_open_on("a.bin") + fds_open_on("b.bin") + fds_open_on("c.bin"), 0);
  EXPECT_EQ(cache.size(), 2u) << "s.txt and d.bin";
}

// The descriptors held are capped by the process's limit too: 64 per loop
// (now 256) could be the whole of a 1,024-descriptor table across loops.
TEST_F(file_cache_test, holds_at_most_a_64th_of_the_descriptor_limit) {
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  if (old.rlim_max < 1024) GTEST_SKIP() << "the hard limit is under 1024";
  rlimit low = old;
  low.rlim_cur = 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  file_cache capped;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  file_cache floor;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(capped.descriptor_cap(), 16u);
  EXPECT_EQ(floor.descriptor_cap(), 8u) << "at least 8";
  if (old.rlim_cur >= 64 * file_cache_max_fds) {
    EXPECT_EQ(file_cache().descriptor_cap(), file_cache_max_fds);
  }
}

// Full of large files' descriptors, a new large file costs the others
// their entries, and the small files held in memory stay.
TEST_F(file_cache_test, short_of_descriptor_room_it_drops_only_the_entries_that_hold_one) {
  file_cache cache;
  const std::size_t cap = cache.descriptor_cap();
  std::FILE* small = std::fopen((root_ + "/s.txt").c_str(), "wb");
  ASSERT_NE(small, nullptr);
  std::fputs("small", small);
  std::fclose(small);
  int err = 0;
  time_point t0 = clock::now();
  ASSERT_NE(cache.open(root_fd_, "s.txt", t0, true, false, err), nullptr);
  for (std::size_t i = 0; i <= cap; ++i) {
    std::string name = "big" + std::to_string(i) + ".bin";
    write_large(name);
    ASSERT_NE(cache.open(root_fd_, name, t0, true, false, err), nullptr) << name;
  }
  EXPECT_EQ(cache.size(), 2u) << "s.txt and the last large file";
  EXPECT_EQ(fds_open_on("big0.bin"), 0);
}

TEST_F(file_cache_test, out_of_descriptors_with_nothing_held_it_reports_emfile) {
  write_large("a.bin");
  file_cache cache;
  int err = 0;
  const file_info* f = nullptr;
  {
    test::descriptors_used_up used_up;
    f = cache.open(root_fd_, "a.bin", clock::now(), true, false, err);
  }
  EXPECT_EQ(f, nullptr);
  EXPECT_EQ(err, EMFILE);
}

// The root is looked at again once per lifetime: a path that names another
// directory now (a symlink to a release swapped, the root made anew) is
// served from there, and what the cache held beneath the old one goes.
TEST_F(file_cache_test, a_root_path_that_names_another_directory_is_followed_within_a_lifetime) {
  ASSERT_TRUE(write_file(root_ + "/f.txt", "old"));
  std::filesystem::create_directory(root_ + "/next");
  ASSERT_TRUE(write_file(root_ + "/next/f.txt", "new"));
  // Beside the root, which TearDown removes: the test removes it.
  std::string link = root_ + "-link";
  std::filesystem::create_directory_symlink(root_, link);
  file_cache c;
  time_point t = clock::now();
  int err = 0;
  EXPECT_EQ(c.root(root_fd_, link, t), root_fd_);  // the same directory: the one opened
  const file_info* f = c.open(root_fd_, "f.txt", t, true, false, err);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->bytes, "old");
  std::filesystem::remove(link);
  std::filesystem::create_directory_symlink(root_ + "/next", link);
  EXPECT_EQ(c.root(root_fd_, link, t + 100ms), root_fd_);  // not looked at again yet
  int next = c.root(root_fd_, link, t + file_cache_ttl);
  EXPECT_NE(next, root_fd_);
  EXPECT_EQ(c.size(), 0u);  // what it held lay beneath the old root
  f = c.open(next, "f.txt", t + file_cache_ttl, true, false, err);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->bytes, "new");
  // Gone (mid-deploy): the root it has, until the path names one again.
  std::filesystem::remove(link);
  EXPECT_EQ(c.root(root_fd_, link, t + 2 * file_cache_ttl), next);
}

}  // namespace
}  // namespace weft::http::detail
