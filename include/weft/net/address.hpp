#pragma once
// endpoint: an IPv4 or IPv6 address with a port.
//
//   endpoint::parse("127.0.0.1:8080"), endpoint::parse("[::1]:0")
//   endpoint::from_host("::1", 6000), endpoint::from_host("[::1]", 6000),
//   endpoint::from_host("localhost", 80)
//
// Parsing is strict: dotted-quad IPv4 only, IPv6 in brackets when a port
// follows, a port of 0-65535 in decimal digits. "localhost" is the one name
// accepted (as 127.0.0.1); weft does no DNS. Port 0 asks the kernel for one.
// A plain value type; safe to copy between threads.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weft {

class endpoint {
 public:
  endpoint() noexcept;
  static std::optional<endpoint> parse(std::string_view host_port);
  static std::optional<endpoint> from_host(std::string_view host, uint16_t port);
  static endpoint from_sockaddr(const sockaddr_storage& addr, socklen_t len) noexcept;
  static endpoint loopback_v4(uint16_t port) noexcept;

  int family() const noexcept { return storage_.ss_family; }
  bool is_v6() const noexcept { return family() == AF_INET6; }
  uint16_t port() const noexcept;
  void set_port(uint16_t port) noexcept;
  std::string host() const;       // "127.0.0.1", "::1"
  std::string to_string() const;  // "127.0.0.1:80", "[::1]:80"

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }

  friend bool operator==(const endpoint& a, const endpoint& b) noexcept;

 private:
  sockaddr_storage storage_;
  socklen_t len_;
};

}  // namespace weft
