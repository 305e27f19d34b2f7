// echo_load: a closed-loop load generator for line echo servers.
//
// N connections each keep D lines in flight: after the first D lines, every
// line that comes back is answered with one new line (all lines completed by
// one read go out in one write). Lines are 64 bytes with varying content:
// a 16-digit hex sequence number, a space, 46 bytes from one of 256
// pseudo-random rows, and LF. Every echoed byte is compared with what was
// sent, in order; a mismatch counts the differing bytes as errors and drops
// that connection. Plain epoll, one thread, no weft code: the same client
// for every server.
//
// Runs --warmup seconds unmeasured, then --seconds measured. Within the
// measured window it reads the server's utime+stime from /proc/PID/stat
// (--server-pid) at both edges, so throughput per server core is
// lines/s / (server CPU seconds / wall seconds).
//
// Prints one JSON line: lines_per_s, p50_us, p99_us (per-line round trip:
// from the write that sent a line to the read that completed its echo),
// server_cpu, per_core, client_cpu, cpu_busy (each CPU's busy share, from
// /proc/stat), softirqd_cpu (the two cores' ksoftirqd threads), other_cpu
// (busy time on the server's and the client's cores that was none of those:
// other processes sharing the machine; needs both pinned), lost (lines
// never echoed), errors. Exit status 1 if any error.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr std::size_t line_len = 64;
constexpr std::size_t body_len = line_len - 18;  // after "%016x " and before LF

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  int conns = 100;
  int depth = 1;
  double seconds = 5;
  double warmup = 1;
  int server_pid = 0;
  std::string label = "server";
};

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Line content: sequence number in hex, then one of 256 rows chosen by the
// sequence number and connection, so neighbouring lines differ everywhere.
class line_maker {
 public:
  line_maker() {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (auto& row : rows_)
      for (char& c : row) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        c = static_cast<char>('!' + x % 94);  // printable, never LF
      }
  }
  void make(uint32_t conn, uint64_t seq, char* out) const {
    static constexpr char hex[] = "0123456789abcdef";
    uint32_t row = static_cast<uint32_t>(seq * 0x9E3779B1u + conn * 0x85EBCA6Bu) >> 24;
    for (int i = 15; i >= 0; --i, seq >>= 4) out[i] = hex[seq & 15];
    out[16] = ' ';
    std::memcpy(out + 17, rows_[row].data(), body_len);
    out[line_len - 1] = '\n';
  }

 private:
  std::array<std::array<char, body_len>, 256> rows_{};
};

// Log-linear histogram of nanoseconds: 64 sub-buckets per power of two
// (under 1.6% error), 2304 counters.
class histogram {
 public:
  void add(uint64_t v) {
    ++counts_[index(v)];
    ++total_;
  }
  double percentile_us(double p) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(total_ - 1)) + 1,
             seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return static_cast<double>(midpoint(i)) / 1000.0;
    }
    return 0;
  }

 private:
  static constexpr int sub_bits = 7;
  static std::size_t index(uint64_t v) {
    if (v < (1u << sub_bits)) return v;
    int msb = 63 - __builtin_clzll(v);
    int e = msb - (sub_bits - 1);
    return static_cast<std::size_t>(e) * (1u << (sub_bits - 1)) + (v >> e);
  }
  static uint64_t midpoint(std::size_t i) {
    if (i < (1u << sub_bits)) return i;
    std::size_t e = i / (1u << (sub_bits - 1)) - 1;
    uint64_t mant = i - e * (1u << (sub_bits - 1));
    return (mant << e) + ((uint64_t{1} << e) >> 1);
  }
  std::array<uint64_t, 2304> counts_{};
  uint64_t total_ = 0;
};

struct conn {
  int fd = -1;
  uint32_t id = 0;
  uint64_t sent = 0;   // lines written (or queued in out)
  uint64_t recvd = 0;  // lines whose echo has been fully verified
  uint32_t off = 0;    // bytes of line `recvd` verified so far
  bool dead = false;
  std::vector<uint64_t> sent_at;  // ring of depth send times
  std::string out;                // bytes the socket did not take yet
};

struct run_state {
  options opt;
  line_maker lines;
  histogram lat;
  bool measuring = false;
  bool sending = true;
  uint64_t errors = 0;
  uint64_t completed = 0;  // lines verified, all time
  int epfd = -1;
  std::vector<char> scratch;
};

long server_ticks(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  // After "pid (comm) ", field 3 (state) is index 0; utime is field 14.
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// Busy ticks (everything but idle and iowait) of each CPU, from /proc/stat:
// shows whether anything besides this benchmark ran during the window.
std::vector<long> cpu_busy_ticks() {
  std::ifstream f("/proc/stat");
  std::vector<long> busy;
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] == ' ') continue;
    std::istringstream in(line.substr(line.find(' ')));
    long v[8] = {};
    for (long& x : v) in >> x;  // user nice system idle iowait irq softirq steal
    busy.push_back(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
  }
  return busy;
}

// The one CPU that pid (0: this process) may run on, or -1.
int pinned_cpu(int pid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(pid, sizeof set, &set) != 0 || CPU_COUNT(&set) != 1) return -1;
  for (int i = 0; i < CPU_SETSIZE; ++i)
    if (CPU_ISSET(i, &set)) return i;
  return -1;
}

// The PID of the ksoftirqd thread of `cpu`, or 0. Under heavy network load
// the kernel moves softirq work (the TCP receive path) into it.
int ksoftirqd_pid(int cpu) {
  if (cpu < 0) return 0;
  std::string want = "ksoftirqd/" + std::to_string(cpu);
  for (int pid = 1; pid < 4096; ++pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    if (f && std::getline(f, comm) && comm == want) return pid;
  }
  return 0;
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void kill_conn(run_state& st, conn& c) {
  if (c.dead) return;
  c.dead = true;
  epoll_ctl(st.epfd, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
}

void set_out_interest(run_state& st, conn& c, bool want_out) {
  epoll_event ev{};
  ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
  ev.data.ptr = &c;
  epoll_ctl(st.epfd, EPOLL_CTL_MOD, c.fd, &ev);
}

// Queues n new lines on c and writes them with one write.
void send_lines(run_state& st, conn& c, std::size_t n, uint64_t now) {
  if (n == 0 || c.dead) return;
  std::size_t bytes = n * line_len;
  if (st.scratch.size() < bytes) st.scratch.resize(bytes);
  for (std::size_t i = 0; i < n; ++i) {
    st.lines.make(c.id, c.sent, st.scratch.data() + i * line_len);
    c.sent_at[c.sent % c.sent_at.size()] = now;
    ++c.sent;
  }
  if (!c.out.empty()) {  // still blocked: keep order
    c.out.append(st.scratch.data(), bytes);
    return;
  }
  ssize_t w = ::send(c.fd, st.scratch.data(), bytes, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN) {
    std::fprintf(stderr, "echo_load: conn %u: send: %s\n", c.id, std::strerror(errno));
    ++st.errors;
    return kill_conn(st, c);
  }
  std::size_t done = w < 0 ? 0 : static_cast<std::size_t>(w);
  if (done < bytes) {
    c.out.assign(st.scratch.data() + done, bytes - done);
    set_out_interest(st, c, true);
  }
}

void flush_out(run_state& st, conn& c) {
  ssize_t w = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
  if (w < 0 && errno == EAGAIN) return;
  if (w < 0) {
    ++st.errors;
    return kill_conn(st, c);
  }
  c.out.erase(0, static_cast<std::size_t>(w));
  if (c.out.empty()) set_out_interest(st, c, false);
}

// Verifies bytes against the lines c sent; returns lines completed.
std::size_t verify(run_state& st, conn& c, const char* p, std::size_t n, uint64_t now) {
  std::size_t done = 0;
  char expect[line_len];
  while (n > 0) {
    if (c.recvd >= c.sent) {
      std::fprintf(stderr, "echo_load: conn %u: %zu bytes nobody sent\n", c.id, n);
      st.errors += n;
      kill_conn(st, c);
      return done;
    }
    st.lines.make(c.id, c.recvd, expect);
    std::size_t take = std::min<std::size_t>(n, line_len - c.off);
    if (std::memcmp(p, expect + c.off, take) != 0) {
      std::size_t bad = 0;
      for (std::size_t i = 0; i < take; ++i) bad += p[i] != expect[c.off + i];
      std::fprintf(stderr, "echo_load: conn %u: line %llu: %zu bytes differ\n", c.id,
                   static_cast<unsigned long long>(c.recvd), bad);
      st.errors += bad;
      kill_conn(st, c);
      return done;
    }
    p += take, n -= take, c.off += static_cast<uint32_t>(take);
    if (c.off == line_len) {
      if (st.measuring) st.lat.add(now - c.sent_at[c.recvd % c.sent_at.size()]);
      c.off = 0;
      ++c.recvd;
      ++done;
    }
  }
  return done;
}

void on_readable(run_state& st, conn& c) {
  static char buf[1 << 16];
  ssize_t n = ::read(c.fd, buf, sizeof buf);
  if (n < 0 && errno == EAGAIN) return;
  uint64_t now = now_ns();
  if (n <= 0) {
    std::fprintf(stderr, "echo_load: conn %u: %s\n", c.id,
                 n == 0 ? "closed by server" : std::strerror(errno));
    ++st.errors;
    return kill_conn(st, c);
  }
  std::size_t lines = verify(st, c, buf, static_cast<std::size_t>(n), now);
  st.completed += lines;
  if (st.sending) send_lines(st, c, lines, now);
}

// After the window: sends nothing more, waits (at most drain_limit) for
// every line in flight to come back verified, then closes each connection
// with our FIN first, so the server sees EOF and not a reset. A line that
// never comes back is lost: it counts as an error.
uint64_t drain(run_state& st, std::vector<conn>& conns, std::vector<epoll_event>& events) {
  constexpr uint64_t drain_limit = 2'000'000'000;
  auto pending = [&] {
    for (conn& c : conns)
      if (!c.dead && c.recvd < c.sent) return true;
    return false;
  };
  uint64_t give_up = now_ns() + drain_limit;
  while (pending() && now_ns() < give_up) {
    int n = epoll_wait(st.epfd, events.data(), static_cast<int>(events.size()), 10);
    for (int i = 0; i < n; ++i) {
      conn& c = *static_cast<conn*>(events[i].data.ptr);
      if (!c.dead && (events[i].events & EPOLLOUT)) flush_out(st, c);
      if (!c.dead && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(st, c);
    }
  }
  uint64_t lost = 0;
  for (conn& c : conns) {
    if (c.dead) continue;
    if (c.recvd < c.sent) {
      std::fprintf(stderr, "echo_load: conn %u: %llu lines never came back\n", c.id,
                   static_cast<unsigned long long>(c.sent - c.recvd));
      lost += c.sent - c.recvd;
    }
    ::shutdown(c.fd, SHUT_WR);
  }
  // Wait briefly for the server's FIN, so that closing sends no reset.
  give_up = now_ns() + 500'000'000;
  for (int open = 1; open > 0 && now_ns() < give_up;) {
    open = 0;
    int n = epoll_wait(st.epfd, events.data(), static_cast<int>(events.size()), 10);
    for (int i = 0; i < n; ++i) {
      conn& c = *static_cast<conn*>(events[i].data.ptr);
      char buf[4096];
      if (!c.dead && ::read(c.fd, buf, sizeof buf) == 0) {
        epoll_ctl(st.epfd, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.dead = true;
      }
    }
    for (conn& c : conns) open += !c.dead;
  }
  for (conn& c : conns)
    if (!c.dead) ::close(c.fd);
  st.errors += lost;
  return lost;
}

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--host")
      o.host = v;
    else if (a == "--port")
      o.port = std::atoi(v);
    else if (a == "--conns")
      o.conns = std::atoi(v);
    else if (a == "--depth")
      o.depth = std::atoi(v);
    else if (a == "--seconds")
      o.seconds = std::atof(v);
    else if (a == "--warmup")
      o.warmup = std::atof(v);
    else if (a == "--server-pid")
      o.server_pid = std::atoi(v);
    else if (a == "--label")
      o.label = v;
    else
      return false;
  }
  return argc % 2 == 1 && o.port > 0 && o.conns > 0 && o.depth > 0 && o.seconds > 0;
}

int connect_to(const options& o) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(o.port));
  inet_pton(AF_INET, o.host.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::fprintf(stderr, "echo_load: connect %s:%d: %s\n", o.host.c_str(), o.port,
                 std::strerror(errno));
    std::exit(2);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // the client adds no Nagle delay
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  run_state st;
  if (!parse(argc, argv, st.opt)) {
    std::fprintf(
        stderr,
        "usage: %s --port P [--host H] [--conns 100] [--depth 1] [--seconds 5] [--warmup 1]\n"
        "          [--server-pid PID] [--label NAME]\n",
        argv[0]);
    return 2;
  }
  const options& o = st.opt;
  std::signal(SIGPIPE, SIG_IGN);
  st.epfd = epoll_create1(EPOLL_CLOEXEC);
  std::vector<conn> conns(static_cast<std::size_t>(o.conns));
  for (std::size_t i = 0; i < conns.size(); ++i) {
    conn& c = conns[i];
    c.id = static_cast<uint32_t>(i);
    c.fd = connect_to(o);
    c.sent_at.assign(static_cast<std::size_t>(o.depth), 0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    epoll_ctl(st.epfd, EPOLL_CTL_ADD, c.fd, &ev);
  }
  uint64_t start = now_ns();
  for (conn& c : conns) send_lines(st, c, static_cast<std::size_t>(o.depth), start);

  const uint64_t measure_at = start + static_cast<uint64_t>(o.warmup * 1e9);
  const uint64_t end_at = measure_at + static_cast<uint64_t>(o.seconds * 1e9);
  uint64_t t0 = 0, lines0 = 0;
  long ticks0 = -1;
  double cpu0 = 0;
  std::vector<long> busy0;
  std::vector<epoll_event> events(static_cast<std::size_t>(o.conns));
  const int scpu = pinned_cpu(o.server_pid), ccpu = pinned_cpu(0);
  const int softirqd[2] = {ksoftirqd_pid(scpu), ksoftirqd_pid(ccpu)};
  long softirq0 = 0;
  auto softirq_ticks = [&] {
    long t = 0;
    for (int pid : softirqd)
      if (pid > 0) t += std::max(server_ticks(pid), 0L);
    return t;
  };
  for (;;) {
    int n = epoll_wait(st.epfd, events.data(), static_cast<int>(events.size()), 10);
    for (int i = 0; i < n; ++i) {
      conn& c = *static_cast<conn*>(events[i].data.ptr);
      if (c.dead) continue;
      if (events[i].events & EPOLLOUT) flush_out(st, c);
      if (!c.dead && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(st, c);
    }
    uint64_t now = now_ns();
    if (!st.measuring && now >= measure_at) {
      st.measuring = true;
      t0 = now, lines0 = st.completed;
      ticks0 = server_ticks(o.server_pid);
      cpu0 = self_cpu_seconds();
      busy0 = cpu_busy_ticks();
      softirq0 = softirq_ticks();
    }
    if (now >= end_at) break;
  }
  uint64_t t1 = now_ns();
  long ticks1 = server_ticks(o.server_pid);
  double cpu1 = self_cpu_seconds();
  std::vector<long> busy1 = cpu_busy_ticks();
  long softirq1 = softirq_ticks();
  st.sending = false;
  int alive = 0;
  for (conn& c : conns) alive += !c.dead;
  uint64_t lost = drain(st, conns, events);

  double wall = static_cast<double>(t1 - t0) / 1e9;
  double rate = static_cast<double>(st.completed - lines0) / wall;
  double server_cpu = -1, per_core = -1;
  if (ticks0 >= 0 && ticks1 >= 0) {
    server_cpu =
        static_cast<double>(ticks1 - ticks0) / static_cast<double>(sysconf(_SC_CLK_TCK)) / wall;
    if (server_cpu > 0) per_core = rate / server_cpu;
  }
  std::string busy = "[";
  for (std::size_t i = 0; i < busy1.size() && i < busy0.size(); ++i) {
    char b[32];
    std::snprintf(b, sizeof b, "%s%.2f", i ? "," : "",
                  static_cast<double>(busy1[i] - busy0[i]) /
                      static_cast<double>(sysconf(_SC_CLK_TCK)) / wall);
    busy += b;
  }
  busy += "]";
  // CPU time on the two cores that was neither the server's, this client's,
  // nor their ksoftirqd threads' (network work the kernel deferred): other
  // processes sharing the machine. Only known when both are pinned apart.
  double tick = static_cast<double>(sysconf(_SC_CLK_TCK)) * wall;
  double softirq_cpu = static_cast<double>(softirq1 - softirq0) / tick;
  double other = -1;
  if (o.server_pid > 0 && scpu >= 0 && ccpu >= 0 && scpu != ccpu &&
      static_cast<std::size_t>(std::max(scpu, ccpu)) < std::min(busy0.size(), busy1.size())) {
    other = static_cast<double>(busy1[scpu] - busy0[scpu] + busy1[ccpu] - busy0[ccpu]) / tick -
            server_cpu - (cpu1 - cpu0) / wall - softirq_cpu;
    other = std::max(other, 0.0);
  }
  std::printf(
      "{\"label\":\"%s\",\"conns\":%d,\"depth\":%d,\"seconds\":%.3f,\"lines\":%llu,\"lines_per_s\":"
      "%.0f,"
      "\"p50_us\":%.1f,\"p99_us\":%.1f,\"server_cpu\":%.3f,\"per_core\":%.0f,\"client_cpu\":%.3f,"
      "\"cpu_busy\":%s,\"softirqd_cpu\":%.2f,\"other_cpu\":%.2f,\"alive\":%d,\"lost\":%llu,"
      "\"errors\":%llu}\n",
      o.label.c_str(), o.conns, o.depth, wall,
      static_cast<unsigned long long>(st.completed - lines0), rate, st.lat.percentile_us(50),
      st.lat.percentile_us(99), server_cpu, per_core, (cpu1 - cpu0) / wall, busy.c_str(),
      softirq_cpu, other, alive, static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(st.errors));
  std::fflush(stdout);
  return st.errors == 0 && st.completed > lines0 ? 0 : 1;
}
