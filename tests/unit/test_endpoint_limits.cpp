// The endpoint's limits without sockets: framing that resumes where it
// stopped, the per-source connection count, the fd budget's arithmetic and
// the health.http settings.
#include "rsagent/config/config.hpp"
#include "rsagent/endpoint/http_request.hpp"
#include "rsagent/endpoint/source_counts.hpp"
#include "rsagent/util/fd_budget.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace rsagent;
using namespace rsagent::verdict;
using namespace rsagent::endpoint;
using State = HttpParse::State;

namespace {

// Feeds `all` in pieces of `step` bytes, parsing only where the scan says
// so, as the loop does; returns the first decided parse and how many parses
// it took.
std::pair<HttpParse, int> framed(const std::string& all, std::size_t step) {
  FrameScan scan;
  std::string in;
  int parses = 0;
  for (std::size_t at = 0; at < all.size(); at += step) {
    in.append(all.substr(at, step));
    if (!scan.ready(in)) continue;
    ++parses;
    HttpParse p = parse_http_request(in);
    if (p.state != State::kIncomplete) return {p, parses};
    scan.parsed(p);
  }
  return {HttpParse{}, parses};
}

config::LoadResult load(const std::string& text) {
  return config::parse_sources({config::Source{"rsagent.json", text}});
}

}  // namespace

TEST_CASE("a request fed a byte at a time is parsed a bounded number of times, not once per byte") {
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: " + std::string(4000, 'u') +
                          "\r\nAccept: */*\r\n\r\n";
  const auto [p, parses] = framed(req, 1);
  REQUIRE(p.state == State::kComplete);
  CHECK(p.consumed == req.size());
  CHECK(p.request.path == "/healthz");
  CHECK(parses <= 2);  // the request line, then the empty line that ends the header block
}

TEST_CASE("framing that resumes gives the same answer as a whole parse, wherever the reads split") {
  const std::vector<std::string> cases{
      "GET / HTTP/1.0\r\n\r\n",
      "\r\n\r\nGET /livez HTTP/1.1\nHost: x\n\n",
      "POST /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
      "GET / HTTP/2.0\r\n",                                       // 505 at the request line
      "GET / HTTP/1.1\r\nBad Field\r\n\r\n",                      // 400
      "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n",     // 414
      "GET / HTTP/1.1\r\nX: " + std::string(9000, 'b') + "\r\n\r\n",  // 431
      "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",              // too many empty lines: 400
  };
  for (const auto& c : cases) {
    const HttpParse whole = parse_http_request(c);
    for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{100}, c.size()}) {
      CAPTURE(c.substr(0, 40));
      CAPTURE(step);
      const auto [p, parses] = framed(c, step);
      CHECK(p.state == whole.state);
      CHECK(p.status == whole.status);
      CHECK(p.consumed == whole.consumed);
      CHECK(parses <= 8);
    }
  }
}

TEST_CASE("a header block that never ends is decided once it passes the cap") {
  const std::string endless = "GET / HTTP/1.1\r\n" + std::string(kMaxRequestBytes + 10, 'x');
  const auto [p, parses] = framed(endless, 512);
  REQUIRE(p.state == State::kError);
  CHECK(p.status == 431);
  CHECK(parses <= 2);
}

TEST_CASE("a request whose body is still coming is parsed again only once the body is in") {
  FrameScan scan;
  std::string in = "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n";
  REQUIRE(scan.ready(in));
  const HttpParse p = parse_http_request(in);
  REQUIRE(p.state == State::kIncomplete);
  CHECK(p.need == in.size() + 100);
  scan.parsed(p);
  for (int i = 0; i < 99; ++i) {
    in += 'b';
    CHECK_FALSE(scan.ready(in));
  }
  in += 'b';
  CHECK(scan.ready(in));
  CHECK(parse_http_request(in).state == State::kComplete);
}

TEST_CASE("each source holds at most its cap of connections; a closed one frees a slot") {
  SourceCounts counts(2);
  CHECK(counts.admit("203.0.113.66"));
  CHECK(counts.admit("203.0.113.66"));
  CHECK_FALSE(counts.admit("203.0.113.66"));
  CHECK(counts.admit("203.0.113.1"));  // another source is not affected
  CHECK(counts.count("203.0.113.66") == 2);
  counts.release("203.0.113.66");
  CHECK(counts.admit("203.0.113.66"));
  counts.release("203.0.113.66");
  counts.release("203.0.113.66");
  counts.release("203.0.113.1");
  CHECK(counts.sources() == 0);  // no row is kept for a source without connections
  counts.release("198.51.100.9");  // never admitted: ignored
  CHECK(counts.sources() == 0);
}

TEST_CASE("the fd budget raises the soft limit within the hard one, or shrinks the connection cap") {
  FdNeeds needs;
  needs.listeners = 2;
  needs.checks = 3;
  needs.interfaces = 2;
  needs.connections = 4096;
  const FdBudget roomy = plan_fd_budget(needs, 1024, 524288);
  CHECK(roomy.original_soft == 1024);
  CHECK(roomy.connections == 4096);
  CHECK(roomy.soft == roomy.fixed + 4096);
  CHECK(roomy.note.empty());
  // A soft limit already above what is needed stays.
  CHECK(plan_fd_budget(needs, 100000, 524288).soft == 100000);
  // A low hard limit: the soft one goes up to it, the cap shrinks to fit.
  const FdBudget tight = plan_fd_budget(needs, 256, 1024);
  CHECK(tight.soft == 1024);
  CHECK(tight.connections == 1024 - tight.fixed);
  CHECK(tight.connections < 4096);
  CHECK(tight.note.find("LimitNOFILE") != std::string::npos);
  // Never below a handful, whatever the limit.
  CHECK(plan_fd_budget(needs, 64, 64).connections >= 16);
}

TEST_CASE("health.http sets the endpoint's deadlines and per-source cap, each validated where it is written") {
  const auto r = load(R"({"health": {"http": {"header_timeout": "2s", "keepalive_timeout": "500ms",
                           "send_timeout": "20s", "max_connections_per_source": 8}}})");
  REQUIRE(r.config);
  const auto& l = r.config->health.http;
  CHECK(l.header_timeout == std::chrono::milliseconds(2000));
  CHECK(l.keepalive_timeout == std::chrono::milliseconds(500));
  CHECK(l.send_timeout == std::chrono::milliseconds(20000));
  CHECK(l.max_connections_per_source == 8);
  const std::string out = config::render(*r.config);
  CAPTURE(out);
  CHECK(out.find("\"header_timeout\": \"2s\",  // rsagent.json:1:40") != std::string::npos);
  CHECK(out.find("\"max_connections_per_source\": 8  // rsagent.json:2:") != std::string::npos);
  const auto again = config::parse_sources({config::Source{"printed.json", out}});
  REQUIRE(again.config);
  CHECK(*again.config == *r.config);

  const auto defaults = load("{}");
  REQUIRE(defaults.config);
  CHECK(defaults.config->health.http == config::HttpLimits{});
  CHECK(config::render(*defaults.config).find("\"keepalive_timeout\": \"3s\",  // default") !=
        std::string::npos);

  const auto bad = load(R"({"health": {"http": {"header_timeout": "0s",
  "max_connections_per_source": 0, "keepalive": "1s"}}})");
  REQUIRE_FALSE(bad.config);
  REQUIRE(bad.errors.size() == 3);
  std::string all;
  for (const auto& e : bad.errors) all += e.str() + "\n";
  CAPTURE(all);
  CHECK(all.find("rsagent.json:1:40") != std::string::npos);
  CHECK(all.find("rsagent.json:2:33") != std::string::npos);
  CHECK(all.find("keepalive_timeout") != std::string::npos);  // did you mean
}
