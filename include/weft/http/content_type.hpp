#pragma once
// content_type_for: the Content-Type a static file server sends for a file
// name, from a built-in table of extensions (case-insensitive). Text types
// carry "; charset=utf-8"; anything unknown is application/octet-stream.
// Pure; safe from any thread.

#include <string_view>

namespace weft::http {

std::string_view content_type_for(std::string_view file_name) noexcept;

}  // namespace weft::http
