// A small JSON API: GET /items/:id, POST /items. Try:
//   curl localhost:7080/items/3      curl -d '{"name":"x"}' localhost:7080/items
#include <weft/http/server.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/spawn.hpp>

#include <csignal>
#include <map>

using namespace weft;

int main() {
  std::map<int, std::string> items{{1, R"({"id": 1, "name": "loom"})"}};
  http::router api;
  api.get("/items/:id", [&](http::request& req) {
    auto it = items.find(std::atoi(std::string(req.param("id")).c_str()));
    if (it == items.end()) return http::response::json(R"({"error": "no such item"})", 404);
    return http::response::json(it->second);
  });
  api.post("/items", [&](http::request& req) {
    int id = static_cast<int>(items.size()) + 1;  // the body is stored as given
    items[id] = std::string(req.body());
    return http::response::json("{\"id\": " + std::to_string(id) + "}", 201);
  });
  loop l;
  l.on_signals({SIGINT, SIGTERM}, [&](int) { l.stop(); });
  auto accept_loop = [](loop& lp, tcp_listener li, const http::router* r) -> task<void> {
    for (;;) spawn_n(lp, http::serve_connection(co_await li.accept(), *r, {}), "http");
  };
  spawn(l, accept_loop(l, tcp_listener::bind(endpoint::loopback_v4(7080)), &api), "accept");
  l.run();
}
