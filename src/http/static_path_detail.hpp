#pragma once
// resolve_static_path's two halves, apart so that tests can hold them to
// each other: the walk decides any path; the plain check takes the usual
// one in a single scan, and must agree with the walk wherever it answers.
//
// Threading: none; safe from any thread.

#include <weft/http/static_path.hpp>

#include <string_view>

namespace weft::http::detail {

// Segment by segment, each percent-decoded once: the general resolution.
resolved_path walk_static_path(std::string_view path, bool allow_dotfiles);

// A path of unreserved and sub-delim bytes and ':' '@' in segments of 1 to
// max_segment bytes, none starting with '.', is its own relative form less
// the slashes at its ends: true, with `out` filled. Anything else (an
// escape, an empty, dot or dotfile segment, a byte outside ASCII, a path
// too long): false, and the walk decides.
bool plain_static_path(std::string_view path, resolved_path& out);

}  // namespace weft::http::detail
