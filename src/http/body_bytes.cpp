#include "http/body_bytes.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include "sys/linux/syscalls.hpp"

namespace weft::http::detail {

void body_bytes::append(std::string_view piece) {
  if (!pages_ && small_.size() + piece.size() <= mapped_from) {
    small_.append(piece);
    return;
  }
  const std::size_t need = view().size() + piece.size();
  if (need > capacity_) grow(need);
  std::memcpy(pages_ + size_, piece.data(), piece.size());
  size_ += piece.size();
}

// Doubles, so a body takes a handful of remaps. Rounded to 64 KiB, the
// largest page size Linux has, so every length is a whole number of pages.
void body_bytes::grow(std::size_t need) {
  constexpr std::size_t unit = std::size_t{64} << 10;
  std::size_t cap = std::max({need, 2 * capacity_, 2 * mapped_from});
  cap = (cap + unit - 1) / unit * unit;
  if (pages_ == nullptr) {
    auto m = sys::map_pages(cap);
    if (!m.ok()) throw std::bad_alloc();
    pages_ = static_cast<char*>(m.value);
    std::memcpy(pages_, small_.data(), small_.size());
    size_ = small_.size();
    small_ = std::string();
  } else {
    auto m = sys::remap_pages(pages_, capacity_, cap);
    if (!m.ok()) throw std::bad_alloc();
    pages_ = static_cast<char*>(m.value);
  }
  capacity_ = cap;
}

void body_bytes::clear() noexcept {
  small_ = std::string();
  if (pages_) sys::unmap_pages(pages_, capacity_);
  pages_ = nullptr;
  size_ = capacity_ = 0;
}

}  // namespace weft::http::detail
