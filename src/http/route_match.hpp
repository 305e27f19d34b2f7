#pragma once
// What the router and request::query_param read from a target, as pure
// functions of bytes: a route pattern's segments, whether a path matches
// them (binding its ":name" parameters), and a query's form-encoded
// values. Apart from router.cpp, whose handlers are coroutines, so that
// fuzz/targets/route_match.cpp can check them against a naive reading of
// router.hpp's rules.

#include <weft/http/router.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::http::detail {

using route_params = std::vector<std::pair<std::string_view, std::string_view>>;

// A pattern's segments. What each is comes from the pattern as written: a
// ":name" parameter, a final "*", or a literal, which is percent-decoded,
// since a path is matched decoded (see match_path): "/caf%C3%A9" and
// "/café" are one pattern, and "%2A" or "%3A" is a literal "*" or ":".
// Empty segments are skipped.
std::vector<router::segment> split_pattern(std::string_view pattern);

// Whether `path` (still percent-encoded) matches `pattern`, without
// allocating but for `params`, which gets each parameter's name (a view
// into the pattern) and its segment as it is in the path (see
// decode_params). Literal segments compare percent-decoded, as Go's
// ServeMux does ("%75" and "u" are the same URI, RFC 3986 §6.2.2); an
// encoded slash stays inside its segment. A final "*" matches the rest of
// the path, nothing included. Empty segments are skipped on both sides.
bool match_path(const std::vector<router::segment>& pattern, std::string_view path,
                route_params* params);

// Decodes the bound values that hold a '%' into `storage` and points them
// there; the others keep pointing into the path. `storage` is reserved
// first, so the views taken into it stay valid as it fills.
void decode_params(route_params& params, std::vector<char>& storage);

// The value of the first `name` in an application/x-www-form-urlencoded
// query ("a=1&b=x+y"), both sides percent-decoded with '+' as a space, as
// the WHATWG URL standard's urlencoded parser reads it: a piece without '='
// is a name with an empty value, and an empty piece ("a&&b") is no pair.
// nullopt when no pair has the name.
std::optional<std::string> query_value(std::string_view query, std::string_view name);

}  // namespace weft::http::detail
