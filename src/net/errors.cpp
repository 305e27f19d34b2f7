#include <weft/net/errors.hpp>

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

}  // namespace weft
