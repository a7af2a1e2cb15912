// The health endpoint's parser and answers, without sockets: what each
// checker really sends, and what a hostile client may send.
#include "rsagent/endpoint/http_request.hpp"
#include "rsagent/endpoint/health_endpoint.hpp"
#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

using namespace rsagent::verdict;
using namespace rsagent::endpoint;
using State = HttpParse::State;

namespace {

HttpRequest must_parse(const std::string& in) {
  const HttpParse p = parse_http_request(in);
  INFO(in << " -> status " << p.status << " " << p.reason);
  REQUIRE(p.state == State::kComplete);
  CHECK(p.consumed == in.size());
  return p.request;
}

int error_of(const std::string& in) {
  const HttpParse p = parse_http_request(in);
  INFO(in);
  REQUIRE(p.state == State::kError);
  return p.status;
}

int status_of(const std::string& answer) { return std::atoi(answer.substr(9, 3).c_str()); }

std::string body_of(const std::string& answer) { return answer.substr(answer.find("\r\n\r\n") + 4); }

}  // namespace

TEST_CASE("the parser frames what the checkers send, as they send it") {
  // HAProxy `option httpchk` (no argument, then with a URI), and with a method.
  auto r = must_parse("OPTIONS / HTTP/1.0\r\n\r\n");
  CHECK(r.method == "OPTIONS");
  CHECK(r.path == "/");
  CHECK(r.minor == 0);
  CHECK(!r.keep_alive);
  CHECK(must_parse("OPTIONS /healthz HTTP/1.0\r\n\r\n").path == "/healthz");
  CHECK(must_parse("GET /healthz HTTP/1.0\r\n\r\n").method == "GET");
  // keepalived HTTP_GET / genhash.
  r = must_parse("GET /healthz HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 198.51.100.10:9799\r\n\r\n");
  CHECK(r.user_agent == "KeepAliveClient");
  // curl, HTTP/1.1: keep-alive unless it says close.
  r = must_parse("GET /status HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n");
  CHECK(r.keep_alive);
  CHECK(!must_parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
  CHECK(must_parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
  CHECK(!must_parse("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
}

TEST_CASE("the parser accepts bare LF line endings and empty lines before a request") {
  CHECK(must_parse("GET /healthz HTTP/1.0\n\n").path == "/healthz");
  CHECK(must_parse("GET /healthz HTTP/1.0\r\nHost: x\n\r\n").path == "/healthz");
  CHECK(must_parse("\r\n\nGET /livez HTTP/1.1\r\n\r\n").path == "/livez");
}

TEST_CASE("targets are normalised: absolute form, query, percent-encoding") {
  CHECK(must_parse("GET http://rs1:9799/healthz HTTP/1.1\r\n\r\n").path == "/healthz");
  CHECK(must_parse("GET HTTP://[2001:db8::1]:9799/readyz?x=1 HTTP/1.1\r\n\r\n").path == "/readyz");
  CHECK(must_parse("GET http://rs1 HTTP/1.1\r\n\r\n").path == "/");
  CHECK(must_parse("GET /health%7A HTTP/1.1\r\n\r\n").path == "/healthz");
  CHECK(must_parse("GET /healthz?probe=1#x HTTP/1.1\r\n\r\n").path == "/healthz");
  CHECK(must_parse("OPTIONS * HTTP/1.1\r\n\r\n").path == "*");
  CHECK(error_of("GET /health%zz HTTP/1.1\r\n\r\n") == 400);
  CHECK(error_of("GET /health% HTTP/1.1\r\n\r\n") == 400);
  CHECK(error_of("GET ftp://x/healthz HTTP/1.1\r\n\r\n") == 400);
  CHECK(error_of("GET * HTTP/1.1\r\n\r\n") == 400);
}

TEST_CASE("the parser waits for the rest of a request, and for its body") {
  CHECK(parse_http_request("").state == State::kIncomplete);
  CHECK(parse_http_request("GET /healthz HTTP/1.1\r\nHost: x\r\n").state == State::kIncomplete);
  CHECK(parse_http_request("GET / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab").state == State::kIncomplete);
  const std::string two = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
  const HttpParse p = parse_http_request(two);
  REQUIRE(p.state == State::kComplete);
  CHECK(p.consumed == two.size() / 2);
  const HttpParse body = parse_http_request("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET");
  REQUIRE(body.state == State::kComplete);
  CHECK(body.consumed == 40);
}

TEST_CASE("malformed requests get the status that says why") {
  CHECK(error_of("GET /\r\n") == 400);                   // HTTP/0.9
  CHECK(error_of("garbage\r\n\r\n") == 400);
  CHECK(error_of("GET  /healthz HTTP/1.1\r\n\r\n") == 400);
  CHECK(error_of("G\xff T / HTTP/1.1\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/2.0\r\n\r\n") == 505);
  CHECK(error_of("GET / HTTX/1.1\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\n folded\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\nNo colon\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\nX: a\x01" "b\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == 501);
  CHECK(error_of("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n") == 413);
  CHECK(error_of("GET / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n") == 413);
  CHECK(error_of("GET /" + std::string(kMaxRequestLine, 'a')) == 414);
  std::string many = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i <= kMaxHeaderCount; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
  CHECK(error_of(many + "\r\n") == 431);
  CHECK(error_of("GET / HTTP/1.1\r\nX: " + std::string(kMaxHeaderBlock, 'a')) == 431);
}

TEST_CASE("bytes from outside are made printable UTF-8 where they enter") {
  const auto r = must_parse("GET /h\xff HTTP/1.1\r\nUser-Agent: \xff\xfe" "caf\xc3\xa9\r\n\r\n");
  CHECK(r.user_agent == "\\xff\\xfecaf\xc3\xa9");
  CHECK(rsagent::text::valid_utf8(r.target));
  CHECK(must_parse("GET / HTTP/1.1\r\nUser-Agent: " + std::string(5000, 'u') + "\r\n\r\n").user_agent.size() == 256);
}

TEST_CASE("every health path answers GET, HEAD and OPTIONS with the verdict's status") {
  Board board({}, "/nonexistent");
  HealthEndpoint server(board, nullptr);
  auto ask = [&](const std::string& method, const std::string& path) {
    HttpRequest req;
    req.method = method;
    req.path = path;
    return server.answer(req, true);
  };
  // A fresh Board has no network view yet: not ready.
  for (const char* p : {"/", "/healthz", "/readyz", "*"}) {
    CAPTURE(p);
    CHECK(status_of(ask("GET", p)) == 503);
    CHECK(status_of(ask("HEAD", p)) == 503);
    const auto options = ask("OPTIONS", p);
    CHECK(status_of(options) == 503);
    CHECK(options.find("Allow: GET, HEAD, OPTIONS\r\n") != std::string::npos);
    CHECK(body_of(options).empty());
    CHECK(body_of(ask("HEAD", p)).empty());
  }
  board.set_net({true, true, ""}, {});
  for (const char* p : {"/", "/healthz", "/readyz"}) {
    CAPTURE(p);
    CHECK(status_of(ask("GET", p)) == 200);
    CHECK(status_of(ask("OPTIONS", p)) == 200);
    CHECK(body_of(ask("GET", p)) == "ready\n");
  }
  CHECK(ask("HEAD", "/healthz").find("Content-Length: 6\r\n") != std::string::npos);
  board.set_operator({Admin::kDrain, "upgrade", 0});
  CHECK(status_of(ask("OPTIONS", "/healthz")) == 503);
  CHECK(status_of(ask("GET", "/")) == 503);
  CHECK(status_of(ask("BREW", "/healthz")) == 405);
  CHECK(ask("DELETE", "/nope").find("Allow: GET, HEAD, OPTIONS") != std::string::npos);
  CHECK(status_of(ask("GET", "/nope")) == 404);
  CHECK(ask("GET", "/healthz").find("Connection: close") != std::string::npos);
}

TEST_CASE("a given state always gives a byte-identical body, and /status is valid JSON whatever a client sent") {
  Board board({}, "/nonexistent");
  HealthEndpoint server(board, nullptr);
  board.set_net({true, true, ""}, {});
  board.note_request("198.51.100.1", "\xff\xfe");
  board.note_request("198.51.100.2", "caf\xc3");
  HttpRequest req;
  req.method = "GET";
  req.path = "/healthz";
  const std::string a = body_of(server.answer(req, true));
  CHECK(a == body_of(server.answer(req, true)));
  req.path = "/status";
  const std::string status = server.answer(req, true);
  CHECK(status_of(status) == 200);
  CHECK(nlohmann::json::accept(body_of(status)));
}
