// weft's HTTP/1.1 request-head parser against libhttp-parser (Debian's
// libhttp-parser-dev, 2.9: the parser Node.js used before llhttp), on the
// same bytes, in the same run. How to run it and the figures: README.md here.
//
// Fairness: both sides deliver the same information for every request --
// method, target, HTTP version and every header name/value as pointer+length
// into the input, stored in a fixed array (no allocation on either side).
// weft gets it from parse_request; http_parser through its callbacks, which
// record views into a fixed array the way weft fills its storage. Before
// timing anything, a static initializer checks that both sides extract
// identical results from every request, and aborts otherwise.

#include <weft/http/request_parser.hpp>

#include <benchmark/benchmark.h>
#include <http_parser.h>

#include <array>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

// ---------------------------------------------------------------- requests

struct request_kind {
  const char* name;
  std::string bytes;  // exactly one request head (plus body where it has one)
  std::size_t head;   // bytes of the head, through the empty line
};

std::string post_body() {
  return R"({"name":"weft","tags":["http","parser"],"count":42})";
}

std::vector<request_kind> make_requests() {
  std::vector<request_kind> v;
  auto add = [&](const char* name, std::string head, std::string body = {}) {
    std::size_t h = head.size();
    v.push_back({name, head + body, h});
  };
  // curl 7.88 (Debian 12), plain GET.
  add("curl_get",
      "GET /index.html HTTP/1.1\r\n"
      "Host: www.example.com\r\n"
      "User-Agent: curl/7.88.1\r\n"
      "Accept: */*\r\n"
      "\r\n");
  // A desktop Firefox page load: 11 fields, a cookie and a referer.
  add("browser_get",
      "GET /articles/2024/06/http-parsing-in-practice?ref=home&utm_source=feed HTTP/1.1\r\n"
      "Host: www.example.com\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
      "Accept: "
      "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
      "Accept-Language: en-US,en;q=0.7,de;q=0.3\r\n"
      "Accept-Encoding: gzip, deflate, br, zstd\r\n"
      "Referer: https://www.example.com/\r\n"
      "Connection: keep-alive\r\n"
      "Cookie: session=7f3c9a1e2b4d6f80a1c3e5f7092b4d6f; theme=dark; "
      "_ga=GA1.2.1234567890.1718000000; consent=1\r\n"
      "Upgrade-Insecure-Requests: 1\r\n"
      "Sec-Fetch-Dest: document\r\n"
      "Sec-Fetch-Mode: navigate\r\n"
      "Sec-Fetch-Site: same-origin\r\n"
      "Sec-Fetch-User: ?1\r\n"
      "Priority: u=0, i\r\n"
      "\r\n");
  // A form-less JSON POST with Content-Length (the head is parsed; both
  // parsers are also handed the body bytes, which http_parser walks).
  std::string body = post_body();
  add("json_post",
      "POST /api/v1/items HTTP/1.1\r\n"
      "Host: api.example.com\r\n"
      "User-Agent: python-requests/2.31.0\r\n"
      "Accept-Encoding: gzip, deflate\r\n"
      "Accept: application/json\r\n"
      "Connection: keep-alive\r\n"
      "Content-Type: application/json\r\n"
      "Content-Length: " +
          std::to_string(body.size()) +
          "\r\n"
          "\r\n",
      body);
  // An API call with a bearer token (a JWT) behind a proxy.
  add("api_bearer",
      "GET /v2/accounts/8d2f61c4/transactions?limit=50&cursor=eyJpZCI6MTIzNDV9 HTTP/1.1\r\n"
      "Host: api.example.com\r\n"
      "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjFlOWdkazcifQ."
      "eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJzdWIiOiIyNDg4OTkzNyIsImF1ZCI6ImFwaSIs"
      "ImV4cCI6MTcxODAwMzYwMCwiaWF0IjoxNzE4MDAwMDAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ."
      "TCYt5XsITJX1CxPCT8yAV-TVkIEq_PbChOMqsLfRoPsnsgw5WEuts01mq-pQy7UJiN5mgRxD-WUcX16dUEMGlv50\r\n"
      "Accept: application/json\r\n"
      "User-Agent: okhttp/4.12.0\r\n"
      "X-Request-Id: 3f1b9c2e-7d4a-4e8b-9a61-0c5d2e7f8a90\r\n"
      "X-Forwarded-For: 203.0.113.7, 10.0.0.12\r\n"
      "X-Forwarded-Proto: https\r\n"
      "Accept-Encoding: gzip\r\n"
      "\r\n");
  return v;
}

const std::vector<request_kind>& requests() {
  static const std::vector<request_kind> r = make_requests();
  return r;
}

// --------------------------------------------------------------- the result

constexpr std::size_t max_fields = 100;

struct view {
  const char* p = nullptr;
  std::size_t n = 0;
};

struct parsed {
  std::string_view method, target;
  int major = 0, minor = 0;
  std::size_t nfields = 0;
  std::array<view, max_fields> names{}, values{};
};

// ---------------------------------------------------------------------- weft

struct weft_side {
  weft::http::parse_limits limits;
  std::array<weft::http::header_field, max_fields> storage;
  weft::http::request_head head;
  weft::http::parse_state state;

  // Returns the bytes consumed (the head), 0 on failure.
  std::size_t parse(std::string_view bytes) noexcept {
    auto r = weft::http::parse_request(bytes, limits, storage, head, state);
    return r.state == weft::http::parse_result::complete ? r.consumed : 0;
  }
  void export_to(parsed& out) const {
    out.method = head.method;
    out.target = head.target;
    out.major = 1;
    out.minor = head.version_minor;
    out.nfields = head.fields.size();
    for (std::size_t i = 0; i < out.nfields; ++i) {
      out.names[i] = {head.fields[i].name.data(), head.fields[i].name.size()};
      out.values[i] = {head.fields[i].value.data(), head.fields[i].value.size()};
    }
  }
};

// --------------------------------------------------------------- http_parser

struct hp_side {
  http_parser parser{};
  http_parser_settings settings{};
  // What the callbacks record: views into the input, like weft's storage.
  view url;
  std::size_t nfields = 0;
  bool in_value = false;
  bool complete = false;
  std::array<view, max_fields> names{}, values{};

  // Appends a callback's span to `v`; http_parser splits a token across
  // calls only when it is split across buffers, and then the pieces are
  // contiguous in one caller buffer here.
  static void extend(view& v, const char* at, std::size_t n) noexcept {
    if (v.p == nullptr)
      v = {at, n};
    else
      v.n = static_cast<std::size_t>(at + n - v.p);
  }
  static hp_side& self(http_parser* p) noexcept { return *static_cast<hp_side*>(p->data); }

  hp_side() {
    http_parser_settings_init(&settings);
    settings.on_url = [](http_parser* p, const char* at, std::size_t n) {
      extend(self(p).url, at, n);
      return 0;
    };
    settings.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
      auto& s = self(p);
      if (s.in_value || s.nfields == 0) {  // a new field starts
        if (s.nfields == max_fields) return 1;
        s.names[s.nfields] = {};
        s.values[s.nfields] = {};
        ++s.nfields;
        s.in_value = false;
      }
      extend(s.names[s.nfields - 1], at, n);
      return 0;
    };
    settings.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
      auto& s = self(p);
      s.in_value = true;
      extend(s.values[s.nfields - 1], at, n);
      return 0;
    };
    // The head is what is compared: stop there, like weft, which parses
    // heads only. (Returning 1 would mean "no body"; pause instead so that
    // both sides hand back the number of head bytes.)
    settings.on_headers_complete = [](http_parser* p) {
      self(p).complete = true;
      http_parser_pause(p, 1);
      return 0;
    };
    settings.on_message_complete = [](http_parser* p) {
      self(p).complete = true;
      return 0;
    };
  }

  std::size_t parse(std::string_view bytes) noexcept {
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = this;
    url = {};
    nfields = 0;
    in_value = false;
    complete = false;
    std::size_t n = http_parser_execute(&parser, &settings, bytes.data(), bytes.size());
    if (!complete) return 0;
    // Paused in on_headers_complete, http_parser returns the offset of the
    // head's final LF (not yet counted): the head is that plus one byte.
    if (HTTP_PARSER_ERRNO(&parser) == HPE_PAUSED) return n + 1;
    if (HTTP_PARSER_ERRNO(&parser) != HPE_OK) return 0;
    return n;
  }
  void export_to(parsed& out) const {
    out.method = http_method_str(static_cast<http_method>(parser.method));
    out.target = {url.p, url.n};
    out.major = parser.http_major;
    out.minor = parser.http_minor;
    out.nfields = nfields;
    out.names = names;
    out.values = values;
  }
};

// ------------------------------------------------------------ the agreement

bool same(const parsed& a, const parsed& b) {
  if (a.method != b.method || a.target != b.target || a.major != b.major || a.minor != b.minor ||
      a.nfields != b.nfields)
    return false;
  for (std::size_t i = 0; i < a.nfields; ++i)
    if (a.names[i].p != b.names[i].p || a.names[i].n != b.names[i].n ||
        a.values[i].p != b.values[i].p || a.values[i].n != b.values[i].n)
      return false;
  return true;
}

// Checked once, before the first benchmark: both parsers must accept every
// request and extract the same views from the same bytes.
bool check_agreement() {
  for (const auto& r : requests()) {
    weft_side w;
    hp_side h;
    std::size_t wn = w.parse(r.bytes), hn = h.parse(r.bytes);
    parsed a, b;
    w.export_to(a);
    h.export_to(b);
    if (wn != r.head || hn != r.head || !same(a, b)) {
      std::fprintf(stderr, "parsers disagree on %s (weft %zu, http_parser %zu, head %zu)\n", r.name,
                   wn, hn, r.head);
      std::abort();
    }
  }
  return true;
}
const bool agreed = check_agreement();

// ------------------------------------------------------------ the benchmarks

// Parses `set` round-robin; one iteration = one request. The bytes counted
// are the whole input handed to the parser.
template <class Side>
void run(benchmark::State& state, const std::vector<const request_kind*>& set) {
  Side side;
  std::size_t bytes = 0, i = 0;
  for (auto _ : state) {
    const request_kind& r = *set[i];
    if (++i == set.size()) i = 0;
    std::size_t n = side.parse(r.bytes);
    if (n == 0) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(side);
    benchmark::ClobberMemory();
    bytes += r.bytes.size();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["req/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Registered as <parser>/<kind>: weft/curl_get, http_parser/curl_get, ...,
// then weft/mix and http_parser/mix (the four kinds round-robin).
const bool registered = [] {
  static_cast<void>(agreed);
  for (const auto& r : requests()) {
    std::vector<const request_kind*> set{&r};
    benchmark::RegisterBenchmark((std::string("weft/") + r.name).c_str(),
                                 [set](benchmark::State& s) { run<weft_side>(s, set); });
    benchmark::RegisterBenchmark((std::string("http_parser/") + r.name).c_str(),
                                 [set](benchmark::State& s) { run<hp_side>(s, set); });
  }
  std::vector<const request_kind*> all;
  for (const auto& r : requests()) all.push_back(&r);
  benchmark::RegisterBenchmark("weft/mix", [all](benchmark::State& s) { run<weft_side>(s, all); });
  benchmark::RegisterBenchmark("http_parser/mix",
                               [all](benchmark::State& s) { run<hp_side>(s, all); });
  return true;
}();

}  // namespace
