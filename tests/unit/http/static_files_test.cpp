// static_files, called directly: the header lines a file gets, the bytes of
// a small file shared rather than copied, and the options checked up front.
#include <weft/http/static_files.hpp>

#include <weft/core/loop.hpp>
#include <weft/http/preconditions.hpp>
#include <weft/http/server.hpp>

#include <gtest/gtest.h>

#include "server_fixture.hpp"
#include "test_util.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace weft::http {
namespace {

class small_files : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/weft-static-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    write("a.txt", "aaaa");
    write("b.txt", "bb");
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + root_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void write(const std::string& name, const std::string& bytes) {
    std::FILE* f = std::fopen((root_ + "/" + name).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  static response get(const static_files& files, std::string_view target,
                      std::span<header_field> fields = {}) {
    request req;
    req.head_.method = "GET";
    req.head_.target = target;
    req.head_.fields = fields;
    return files.serve(req);
  }
  std::string root_;
};

TEST_F(small_files, a_file_gets_its_type_validators_and_cache_control) {
  static_files_options o;
  o.cache_control = "public, max-age=60";
  static_files files(root_, o);
  response r = get(files, "/a.txt");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.body(), "aaaa");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
  EXPECT_EQ(r.header("Cache-Control"), "public, max-age=60");
  ASSERT_TRUE(r.header("ETag"));
  EXPECT_EQ(r.header("ETag")->front(), '"');
  ASSERT_TRUE(r.header("Last-Modified"));
  EXPECT_TRUE(r.header("Last-Modified")->ends_with(" GMT"));
}

// The value is sent without a check per response, so a bad one is refused
// when the handler is built, not answered with a 500 per request.
TEST_F(small_files, a_cache_control_with_a_control_byte_is_refused_when_built) {
  static_files_options o;
  o.cache_control = "public\r\nSet-Cookie: x=1";
  EXPECT_THROW(static_files(root_, o), std::invalid_argument);
}

TEST_F(small_files, responses_share_a_cached_files_bytes) {
  static_files files(root_, static_files_options{});
  response one = get(files, "/a.txt"), two = get(files, "/a.txt");
  EXPECT_EQ(one.body(), "aaaa");
  EXPECT_EQ(one.body().data(), two.body().data());
}

// With the cache off, each open replaces the last one's entry: a response
// still holds its own file's bytes.
TEST_F(small_files, a_body_outlives_the_cache_entry_it_came_from) {
  static_files_options o;
  o.file_cache = false;
  static_files files(root_, o);
  response a = get(files, "/a.txt");
  response b = get(files, "/b.txt");
  EXPECT_EQ(a.body(), "aaaa");
  EXPECT_EQ(b.body(), "bb");
}

// A large file is sent from the cache's descriptor itself: a dup per
// response cost two syscalls (dup, close) and a descriptor per download.
// With the cache off, the response still holds the one it was given.
TEST_F(small_files, responses_share_a_cached_large_files_descriptor) {
  write("big.bin", std::string(file_cache_small_file + 1, 'x'));
  static_files files(root_, static_files_options{});
  response one = get(files, "/big.bin"), two = get(files, "/big.bin");
  ASSERT_TRUE(one.file());
  EXPECT_EQ(one.file().get(), two.file().get());
  EXPECT_EQ(one.file_length(), file_cache_small_file + 1);

  static_files_options o;
  o.file_cache = false;
  static_files uncached(root_, o);
  response held = get(uncached, "/big.bin");
  get(uncached, "/a.txt");  // replaces the uncached entry
  ASSERT_TRUE(held.file());
  char c = 0;
  EXPECT_EQ(::pread(held.file().get(), &c, 1, 0), 1);
  EXPECT_EQ(c, 'x');
}

TEST_F(small_files, a_range_of_a_small_file_is_a_view_of_its_bytes) {
  static_files files(root_, static_files_options{});
  header_field range{"Range", "bytes=1-2"};
  response r = get(files, "/a.txt", std::span<header_field>(&range, 1));
  EXPECT_EQ(r.status(), 206);
  EXPECT_EQ(r.body(), "aa");
  EXPECT_EQ(r.header("Content-Range"), "bytes 1-2/4");
}

std::int64_t wall_second() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void set_mtime(const std::string& path, std::int64_t seconds) {
  timespec times[2] = {{0, UTIME_OMIT}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

// RFC 9110 §8.8.2.1: a modification time in the future is replaced by the
// time of the response. Sent as it was, a client's If-Modified-Since of
// that date got 304 for the file changed since, until that future date.
TEST_F(small_files, a_future_modification_time_is_sent_as_now) {
  set_mtime(root_ + "/a.txt", 1893456000);  // 2030-01-01
  static_files files(root_, static_files_options{});
  response r = get(files, "/a.txt");
  ASSERT_TRUE(r.header("Last-Modified"));
  auto sent = parse_http_date(*r.header("Last-Modified"), wall_second());
  ASSERT_TRUE(sent);
  EXPECT_LE(*sent, wall_second());
  header_field since{"If-Modified-Since", *r.header("Last-Modified")};
  EXPECT_EQ(get(files, "/a.txt", std::span<header_field>(&since, 1)).status(), 304)
      << "the date sent is the one compared";
}

// A modification time before year 1 (tmpfs and btrfs hold any 64-bit one,
// from a tar archive say) is sent as year 1's first second, and that date
// is the one If-Range and If-Modified-Since are compared with: Last-Modified
// went out as no HTTP-date at all (found by review). On a file system that
// cannot hold such a time (ext4 stops at 1901) there is nothing to test.
TEST(static_files_dates, a_modification_time_before_year_1_is_sent_as_its_first_second) {
  char tmpl[] = "/dev/shm/weft-static-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) GTEST_SKIP() << "no /dev/shm";
  std::string root = tmpl, path = root + "/old.txt";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("old", f);
  std::fclose(f);
  timespec times[2] = {{0, UTIME_OMIT}, {-70000000000, 0}};
  bool held = ::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0;
  struct ::stat st {};
  held = held && ::stat(path.c_str(), &st) == 0 && st.st_mtim.tv_sec == -70000000000;
  std::optional<response> plain, ranged;
  if (held) {
    static_files files(root, static_files_options{});
    request req;
    req.head_.method = "GET";
    req.head_.target = "/old.txt";
    plain = files.serve(req);
    header_field fields[] = {{"Range", "bytes=0-0"}, {"If-Range", "Mon, 01 Jan 0001 00:00:00 GMT"}};
    req.head_.fields = fields;
    ranged = files.serve(req);
  }
  std::string cmd = "rm -rf '" + root + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  if (!held) GTEST_SKIP() << "this file system does not hold a time before 1901";
  ASSERT_TRUE(plain->header("Last-Modified"));
  EXPECT_EQ(*plain->header("Last-Modified"), "Mon, 01 Jan 0001 00:00:00 GMT");
  EXPECT_EQ(ranged->status(), 206) << "If-Range holds the date that was sent";
}

// §8.8.2.1: Last-Modified is never later than the Date sent with it. The
// Date is cached, refreshed at most every 100 ms of loop time, so a future
// modification time clamped to the wall clock went out a second past the
// Date when the second changed in between (found by review).
TEST_F(small_files, last_modified_is_never_later_than_the_date_sent_with_it) {
  using namespace std::chrono_literals;
  set_mtime(root_ + "/a.txt", 1893456000);  // 2030-01-01
  static_files files(root_, static_files_options{});
  loop l;
  std::optional<std::int64_t> date, sent;
  l.defer([&] {
    date = parse_http_date(http_date(), wall_second());  // this turn's Date
    while (date && wall_second() <= *date) std::this_thread::sleep_for(10ms);
    response r = get(files, "/a.txt");
    if (r.header("Last-Modified"))
      sent = parse_http_date(*r.header("Last-Modified"), wall_second());
    date = parse_http_date(http_date(), wall_second());
  });
  l.run_once(0ms);
  ASSERT_TRUE(date && sent);
  EXPECT_LE(*sent, *date);
}

// RFC 9110 §13.2.1: preconditions hold for a generated listing as for a
// file. It has no entity tag, so If-Match fails unless it is "*", and
// If-None-Match: * matches; it has no date, so the date conditions are
// ignored. The listing ignored them all (found by review).
TEST_F(small_files, a_directory_listing_evaluates_preconditions) {
  static_files files(root_, static_files_options{});
  auto status = [&](header_field f) {
    return get(files, "/", std::span<header_field>(&f, 1)).status();
  };
  EXPECT_EQ(status({"If-Match", "\"nope\""}), 412);
  EXPECT_EQ(status({"If-Match", "*"}), 200);
  EXPECT_EQ(status({"If-None-Match", "*"}), 304);
  EXPECT_EQ(status({"If-None-Match", "\"x\""}), 200);
  EXPECT_EQ(status({"If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"}), 200);
  EXPECT_EQ(status({"If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"}), 200);
  header_field none{"If-None-Match", "*"};
  response r = get(files, "/", std::span<header_field>(&none, 1));
  EXPECT_TRUE(r.body().empty());
  EXPECT_EQ(r.header("Cache-Control"), "no-cache");
}

// A listing is built whole, so the listings held at once, by every
// connection and loop, take from one budget, and one past it is a 503. A
// directory of 20,000 names is a 1.2 MB page: 150 clients asking for it
// four times each and never reading made the server hold 184 MB (found by
// review).
TEST_F(small_files, listings_held_at_once_share_one_budget) {
  static_files_options o;
  o.listing_memory = 2000;  // room for one listing of this directory, not two
  static_files files(root_, o);
  response first = get(files, "/");
  ASSERT_EQ(first.status(), 200);
  ASSERT_GT(first.body().size(), 1000u);
  ASSERT_LE(first.body().size(), 2000u);
  response second = get(files, "/");
  EXPECT_EQ(second.status(), 503);
  first = response();  // sent and gone: its bytes go back
  EXPECT_EQ(get(files, "/").status(), 200);
}

// A directory asked for without its slash is redirected to the slash form,
// and the Location is a URI: the bytes of the request's path and query that
// a URI may not hold raw (which the parser lets through, as browsers send
// them) are percent-encoded. They were copied raw (found by review). The
// path is the one served, its dot-segments and empty segments resolved, as
// nginx's is: "/sub/../x" went to "/sub/../x/".
TEST_F(small_files, a_redirect_to_the_slash_form_is_percent_encoded) {
  for (const char* dir : {"x<y", "caf\xc3\xa9", "a%b"})
    ASSERT_EQ(::mkdir((root_ + "/" + dir).c_str(), 0755), 0);
  static_files files(root_, static_files_options{});
  auto location = [&](std::string_view target) {
    response r = get(files, target);
    EXPECT_EQ(r.status(), 301) << target;
    return std::string(r.header("Location").value_or(""));
  };
  EXPECT_EQ(location("/x<y"), "/x%3Cy/");
  EXPECT_EQ(location("/x%3Cy"), "/x%3Cy/");
  EXPECT_EQ(location("/caf\xc3\xa9"), "/caf%C3%A9/");
  EXPECT_EQ(location("/a%25b"), "/a%25b/");
  EXPECT_EQ(location("/x<y?q=\"<>`{|}^\\&r=1/2"), "/x%3Cy/?q=%22%3C%3E%60%7B%7C%7D%5E%5C&r=1/2");
  EXPECT_EQ(location("/sub/../x<y"), "/x%3Cy/");
  EXPECT_EQ(location("/./a%25b"), "/a%25b/");
  EXPECT_EQ(location("//x%3Cy//./..//caf%c3%a9?a=%41"), "/caf%C3%A9/?a=%41");
  // The root, named without a final slash, is "/": "//" names no host.
  EXPECT_EQ(location("/x<y/.."), "/");
  EXPECT_EQ(location("/x<y/%2e%2e?//evil.example/"), "/?//evil.example/");
}

// A directory one may search but not read (0711: a home directory, a
// deploy that hides its names) still has its index.html served, and its
// slash-less name redirected, as nginx does: opening index.html needs
// only search permission. The directory itself was opened for reading
// first, and the answer was a 403 (found by review); so was every request
// under a 0711 root. Only its listing needs read permission. The modes
// deny the owner too (0311, 0600), so that the test holds run by any
// user; root reads anything, so the child checks as nobody.
TEST_F(small_files, a_directory_that_may_be_searched_but_not_read_serves_its_index) {
  ASSERT_EQ(::mkdir((root_ + "/xonly").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root_ + "/xonly/bare").c_str(), 0755), 0);
  write("xonly/index.html", "idx");
  write("xonly/f.txt", "f");
  ASSERT_EQ(::mkdir((root_ + "/locked").c_str(), 0600), 0);
  ASSERT_EQ(::chmod((root_ + "/xonly/bare").c_str(), 0311), 0);
  ASSERT_EQ(::chmod((root_ + "/xonly").c_str(), 0311), 0);
  ASSERT_EQ(::chmod(root_.c_str(), 0311), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(2);
    int failed = 0;
    try {
      static_files files(root_, static_files_options{});
      response index = get(files, "/xonly/");
      if (index.status() != 200 || index.body() != "idx") failed |= 4;
      if (get(files, "/xonly").status() != 301) failed |= 8;
      if (get(files, "/xonly/f.txt").body() != "f") failed |= 16;
      if (get(files, "/xonly/bare/").status() != 403) failed |= 32;  // its listing
    } catch (const std::exception&) {
      failed |= 64;  // the root could not be opened
    }
    try {
      static_files locked(root_ + "/locked", static_files_options{});
      failed |= 128;  // a root that may not be searched serves nothing: refused
    } catch (const std::system_error&) {
    }
    ::_exit(failed);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::chmod(root_.c_str(), 0755);
  ::chmod((root_ + "/xonly").c_str(), 0755);
  ::chmod((root_ + "/xonly/bare").c_str(), 0755);
  ::chmod((root_ + "/locked").c_str(), 0755);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "2: could not become nobody; 4: index, 8: redirect, 16: file, 32: listing, 64: root, "
         "128: locked root";
}

// §13.1.3: an If-Modified-Since of more than one member is ignored; sent on
// two lines, only the first was read.
TEST_F(small_files, if_modified_since_on_two_lines_is_ignored) {
  static_files files(root_, static_files_options{});
  header_field two[] = {{"If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"},
                        {"If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"}};
  EXPECT_EQ(get(files, "/a.txt", two).status(), 200);
  EXPECT_EQ(get(files, "/a.txt", std::span<header_field>(two, 1)).status(), 304);
}

// Range on two lines is a list of two ranges, which may be answered whole;
// If-None-Match on two lines is one list of tags.
TEST_F(small_files, range_and_if_none_match_are_read_across_their_lines) {
  static_files files(root_, static_files_options{});
  header_field ranges[] = {{"Range", "bytes=0-0"}, {"range", "bytes=2-3"}};
  EXPECT_EQ(get(files, "/a.txt", ranges).status(), 200);
  EXPECT_EQ(get(files, "/a.txt", std::span<header_field>(ranges, 1)).status(), 206);
  std::string tag(*get(files, "/a.txt").header("ETag"));
  header_field tags[] = {{"If-None-Match", "\"other\""}, {"IF-NONE-MATCH", tag}};
  EXPECT_EQ(get(files, "/a.txt", tags).status(), 304);
}

TEST_F(small_files, if_range_by_date_applies_once_the_files_second_has_passed) {
  static_files_options o;
  o.file_cache = false;
  static_files files(root_, o);
  // Changed in the current second (a future time is taken as now): weak.
  // Asked within one second, or asked again.
  for (int tries = 0;; ++tries) {
    ASSERT_LT(tries, 5);
    std::int64_t before = wall_second();
    set_mtime(root_ + "/a.txt", before + 3600);
    std::string stamp(*get(files, "/a.txt").header("Last-Modified"));
    header_field ask[] = {{"Range", "bytes=1-2"}, {"If-Range", stamp}};
    int status = get(files, "/a.txt", ask).status();
    if (wall_second() != before) continue;
    EXPECT_EQ(status, 200) << "a date of this second is weak";
    break;
  }
  set_mtime(root_ + "/a.txt", wall_second() - 10);
  std::string stamp(*get(files, "/a.txt").header("Last-Modified"));
  header_field ask[] = {{"Range", "bytes=1-2"}, {"If-Range", stamp}};
  EXPECT_EQ(get(files, "/a.txt", ask).status(), 206);
}

// A root mounted beneath a path of the site serves that path alone, matched
// as a route's segments are: after decoding and normalizing, on a segment
// boundary. A listing shows the path in the site, not the one on disk.
TEST_F(small_files, a_mounted_root_serves_the_path_it_is_mounted_at_alone) {
  ASSERT_EQ(::mkdir((root_ + "/sub").c_str(), 0755), 0);
  write("sub/c.txt", "c");
  static_files_options o;
  o.mount = "/assets/v1/";
  static_files files(root_, o);
  EXPECT_EQ(get(files, "/assets/v1/a.txt").body(), "aaaa");
  EXPECT_EQ(get(files, "/assets/v1/sub/c.txt").body(), "c");
  EXPECT_EQ(get(files, "//assets/%76%31/sub/./c.txt").body(), "c");
  EXPECT_EQ(get(files, "/assets/v1/sub/../a.txt").body(), "aaaa");
  for (const char* outside :
       {"/a.txt", "/assets/a.txt", "/assets/v1x/a.txt", "/assets/v1/../v1x/a.txt", "/"})
    EXPECT_EQ(get(files, outside).status(), 404) << outside;
  EXPECT_EQ(get(files, "/assets/v1/../../a.txt").status(), 404);
  response bare = get(files, "/assets/v1");
  EXPECT_EQ(bare.status(), 301);
  EXPECT_EQ(bare.header("Location"), "/assets/v1/");
  response listing = get(files, "/assets/v1/");
  ASSERT_EQ(listing.status(), 200);
  EXPECT_NE(listing.body().find("<title>Index of /assets/v1/</title>"), std::string::npos);
  EXPECT_NE(listing.body().find("href=\"a.txt\""), std::string::npos);
  EXPECT_NE(get(files, "/assets/v1/sub/").body().find("Index of /assets/v1/sub/"),
            std::string::npos);
}

// The usage the header shows, over a connection: files beneath /static,
// and the rest of the site routed elsewhere.
TEST_F(small_files, a_mounted_root_shares_a_router_with_other_routes) {
  server_test::fixture f;
  static_files_options o;
  o.mount = "/static";
  auto files = std::make_shared<static_files>(root_, o);
  f.routes.get("/static/*", [files](request& req) { return files->serve(req); });
  f.routes.get("/api", [](request&) { return response::json("{}"); });
  std::string reply = f.run(
      "GET /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
      "HEAD /static/b.txt HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /api HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::vector<std::string> answers;  // each from its status line to the next
  for (std::size_t at = reply.find("HTTP/1.1 "); at != std::string::npos;) {
    std::size_t next = reply.find("HTTP/1.1 ", at + 9);
    answers.push_back(reply.substr(at, next - at));
    at = next;
  }
  ASSERT_EQ(answers.size(), 4u) << reply;
  EXPECT_EQ(answers[0].rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_TRUE(answers[0].ends_with("\r\n\r\naaaa"));
  EXPECT_EQ(answers[1].rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_NE(answers[1].find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_TRUE(answers[1].ends_with("\r\n\r\n")) << "a HEAD answer has no body";
  EXPECT_TRUE(answers[2].ends_with("\r\n\r\n{}"));
  EXPECT_EQ(answers[3].rfind("HTTP/1.1 404", 0), 0u);
}

// Mounted at "/.well-known" (ACME's challenges), the mount's own dot
// segment is no hidden file, and dotfiles beneath it stay hidden: the
// mount took dotfiles on for the whole root (found by review).
TEST_F(small_files, a_mount_may_start_with_a_dot_and_dotfiles_beneath_stay_hidden) {
  ASSERT_EQ(::mkdir((root_ + "/sub").c_str(), 0755), 0);
  write(".secret", "s");
  write("sub/.x", "x");
  static_files_options o;
  o.mount = "/.well-known/acme-challenge";
  static_files files(root_, o);
  EXPECT_EQ(get(files, "/.well-known/acme-challenge/a.txt").body(), "aaaa");
  for (const char* hidden :
       {"/.well-known/acme-challenge/.secret", "/.well-known/acme-challenge/sub/.x",
        "/.well-known/acme-challenge/%2esecret"})
    EXPECT_EQ(get(files, hidden).status(), 404) << hidden;
  o.dotfiles = true;
  EXPECT_EQ(get(static_files(root_, o), "/.well-known/acme-challenge/.secret").body(), "s");
}

TEST_F(small_files, a_mount_that_could_never_be_served_is_refused_when_built) {
  for (const char* bad : {"static", "/a/../..", "/a%2fb", "/a\\b", "/static?v=1", "/a#b"}) {
    static_files_options o;
    o.mount = bad;
    EXPECT_THROW(static_files(root_, o), std::invalid_argument) << bad;
  }
  for (const char* whole : {"", "/", "//"}) {
    static_files_options o;
    o.mount = whole;
    EXPECT_EQ(get(static_files(root_, o), "/b.txt").body(), "bb") << whole;
  }
}

// Out of descriptors is a passing condition of the server, not a fault in
// it: 503. It was a 500.
TEST_F(small_files, running_out_of_descriptors_is_a_503) {
  static_files_options o;
  o.file_cache = false;
  static_files files(root_, o);
  response r;
  {
    test::descriptors_used_up used_up;
    r = get(files, "/a.txt");
  }
  EXPECT_EQ(r.status(), 503);
}

}  // namespace
}  // namespace weft::http
