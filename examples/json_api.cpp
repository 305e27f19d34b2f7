// A small JSON API: GET /items/:id, POST /items (JSON, up to 1,000 items of
// 64 KiB), GET /health (a fixed answer). Run: build/bin/example_json_api 7080:
//   curl localhost:7080/items/1      curl -d '{"name":"x"}' localhost:7080/items
#include <nlohmann/json.hpp>

#include <charconv>
#include <map>

#include "example_main.hpp"

using namespace weft;
using http::response;

int main(int argc, char** argv) {
  std::map<int, std::string> items{{1, R"({"id": 1, "name": "loom"})"}};
  http::router api;
  api.get("/items/:id", [&](http::request& req) {
    std::string_view id = req.param("id");
    int n = 0;  // all of it a number: atoi took "1abc" for 1
    auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
    auto it = ec == std::errc{} && end == id.data() + id.size() ? items.find(n) : items.end();
    if (it == items.end()) return response::json(R"({"error": "no such item"})", 404);
    return response::json(it->second);
  });
  api.post("/items",
           [&](http::request& req) {
             std::string_view b = req.body();  // nlohmann stops at a NUL; a BOM must not go out
             bool clean = b.find('\0') == b.npos && !b.starts_with("\xEF\xBB\xBF");
             if (!clean || !nlohmann::json::accept(b))
               return response::json(R"({"error": "not JSON"})", 400);
             if (items.size() >= 1000) return response::json(R"({"error": "full"})", 507);
             int id = static_cast<int>(items.size()) + 1;
             items[id] = std::string(req.body());
             return response::json("{\"id\": " + std::to_string(id) + "}", 201);
           },
           {.max_body = 64 * 1024});
  api.get("/health", response::json(R"({"ok": true})"));  // built once, as nginx's `return`
  return example::serve_http(argc, argv, 7080, api);
}
