// file_cache: what a loop's cache of open files holds, and for how long.
// It must never keep a descriptor past its entry's lifetime for long, nor
// keep one that the process needs: a large file's entry holds its fd.
#include "http/file_cache.hpp"

#include <weft/http/static_files.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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
TEST_F(file_cache_test, out_of_descriptors_it_gives_back_its_own_and_opens_the_file) {
  for (const char* name : {"a.bin", "b.bin", "c.bin", "d.bin"}) write_large(name);
  file_cache cache;
  int err = 0;
  time_point t0 = clock::now();
  for (const char* name : {"a.bin", "b.bin", "c.bin"})
    ASSERT_NE(cache.open(root_fd_, name, t0, true, false, err), nullptr);
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  rlimit low = old;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> hogs;
  for (int fd; (fd = ::dup(0)) >= 0;) hogs.push_back(fd);
  const file_info* f = cache.open(root_fd_, "d.bin", t0, true, false, err);
  for (int fd : hogs) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_NE(f, nullptr) << "errno " << err;
  EXPECT_TRUE(f->fd);
  EXPECT_EQ(fds_open_on("a.bin") + fds_open_on("b.bin") + fds_open_on("c.bin"), 0);
}

TEST_F(file_cache_test, out_of_descriptors_with_nothing_held_it_reports_emfile) {
  write_large("a.bin");
  file_cache cache;
  int err = 0;
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  rlimit low = old;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> hogs;
  for (int fd; (fd = ::dup(0)) >= 0;) hogs.push_back(fd);
  const file_info* f = cache.open(root_fd_, "a.bin", clock::now(), true, false, err);
  for (int fd : hogs) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(f, nullptr);
  EXPECT_EQ(err, EMFILE);
}

}  // namespace
}  // namespace weft::http::detail
