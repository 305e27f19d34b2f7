#include <weft/net/errors.hpp>

#include <cerrno>
#include <string>

namespace weft {
namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.net"; }
  std::string message(int ev) const override {
    switch (static_cast<net_errc>(ev)) {
      case net_errc::line_too_long:
        return "line too long";
      case net_errc::unexpected_eof:
        return "unexpected end of stream";
    }
    return "unknown weft.net error";
  }
};
}  // namespace

const std::error_category& net_category() noexcept {
  static const category instance;
  return instance;
}

bool peer_lost(std::error_code code) noexcept {
  if (code.category() != std::generic_category() && code.category() != std::system_category())
    return false;
  switch (code.value()) {
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

}  // namespace weft
