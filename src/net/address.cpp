#include <weft/net/address.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace weft {
namespace {
std::optional<uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}
}  // namespace

endpoint::endpoint() noexcept : len_(sizeof(sockaddr_in)) {
  std::memset(&storage_, 0, sizeof storage_);
  storage_.ss_family = AF_INET;
}

endpoint endpoint::loopback_v4(uint16_t port) noexcept {
  endpoint e;
  auto* in = reinterpret_cast<sockaddr_in*>(&e.storage_);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  in->sin_port = htons(port);
  return e;
}

std::optional<endpoint> endpoint::from_host(std::string_view host, uint16_t port) {
  // Names are the same in any case (RFC 4343): "LOCALHOST" was refused.
  constexpr std::string_view localhost = "localhost";
  if (host.size() == localhost.size() && std::equal(host.begin(), host.end(), localhost.begin(),
                                                    [](char a, char b) { return (a | 0x20) == b; }))
    return loopback_v4(port);
  // "[::1]", as a URI and the readiness line write an IPv6 address.
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // brackets are for IPv6
  }
  // inet_pton needs a terminated string; addresses are short. It stops at
  // a NUL, so one inside took "127.0.0.1\0junk" for 127.0.0.1 (found by review).
  char buf[INET6_ADDRSTRLEN + 1];
  if (host.empty() || host.size() >= sizeof buf || host.find('\0') != std::string_view::npos)
    return std::nullopt;
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  endpoint e;
  std::memset(&e.storage_, 0, sizeof e.storage_);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&e.storage_);
  if (::inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    e.len_ = sizeof(sockaddr_in);
    return e;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.storage_);
  if (::inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    e.len_ = sizeof(sockaddr_in6);
    return e;
  }
  return std::nullopt;
}

std::optional<endpoint> endpoint::parse(std::string_view host_port) {
  std::string_view host, port;
  if (!host_port.empty() && host_port.front() == '[') {
    auto close = host_port.find(']');
    if (close == std::string_view::npos || close + 1 >= host_port.size() ||
        host_port[close + 1] != ':')
      return std::nullopt;
    host = host_port.substr(1, close - 1);
    port = host_port.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // brackets are for IPv6
  } else {
    auto colon = host_port.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = host_port.substr(0, colon);
    port = host_port.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6 is ambiguous
  }
  auto p = parse_port(port);
  if (!p) return std::nullopt;
  return from_host(host, *p);
}

endpoint endpoint::from_sockaddr(const sockaddr_storage& addr, socklen_t len) noexcept {
  endpoint e;
  e.storage_ = addr;
  e.len_ = len;
  return e;
}

uint16_t endpoint::port() const noexcept {
  if (is_v6()) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
}

void endpoint::set_port(uint16_t port) noexcept {
  if (is_v6())
    reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
  else
    reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
}

std::string endpoint::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v6())
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
                sizeof buf);
  else
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
                sizeof buf);
  return buf;
}

std::string endpoint::to_string() const {
  // Appended piece by piece: GCC 12 warns (-Wrestrict, a known false
  // positive) on the operator+ chain.
  std::string out;
  if (is_v6()) out += '[';
  out += host();
  if (is_v6()) out += ']';
  out += ':';
  out += std::to_string(port());
  return out;
}

bool operator==(const endpoint& a, const endpoint& b) noexcept {
  return a.family() == b.family() && a.port() == b.port() && a.host() == b.host();
}

}  // namespace weft
