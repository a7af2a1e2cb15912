// The entry point of rsagent-http.so (see http_module.hpp): the HTTP
// endpoint and the http check, the two things that need cpp-httplib.
#include "rsagent/health/http_module.hpp"
#include "rsagent/health/http_server.hpp"
#include "rsagent/health/prober.hpp"

#include <httplib.h>

#include <algorithm>
#include <chrono>

namespace rsagent::health {

namespace {

// cpp-httplib names its errors in one word ("Connection"); the status and
// the headers a director sees should say what happened.
std::string describe(httplib::Error e, std::chrono::milliseconds timeout) {
  const std::string within = " within " + std::to_string(timeout.count()) + " ms";
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect (refused, reset or unreachable)";
    case httplib::Error::ConnectionTimeout:
      return "no connection" + within;
    case httplib::Error::Read:
      return "no complete answer" + within + " (or the connection broke)";
    case httplib::Error::Write:
      return "could not send the request" + within;
    default:
      return httplib::to_string(e);
  }
}

ProbeResult probe_http(const config::Check& ck) {
  httplib::Client cli(ck.address.address.str(), ck.address.port);
  const auto t = ck.timeout;
  const auto sec = std::chrono::duration_cast<std::chrono::seconds>(t);
  const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(t - sec);
  cli.set_connection_timeout(sec.count(), usec.count());
  cli.set_read_timeout(sec.count(), usec.count());
  cli.set_write_timeout(sec.count(), usec.count());
  cli.set_keep_alive(false);
  httplib::Headers headers{{"User-Agent", "rsagent-check"}};
  if (!ck.host.empty()) headers.emplace("Host", ck.host);
  auto res = cli.Get(ck.path.c_str(), headers);
  if (!res) return {false, "GET " + ck.url + ": " + describe(res.error(), t), {}};
  const int status = res->status;
  const bool status_ok = ck.expect.empty()
                             ? (status >= 200 && status <= 399)
                             : std::find(ck.expect.begin(), ck.expect.end(), status) != ck.expect.end();
  if (!status_ok) return {false, "GET " + ck.url + ": status " + std::to_string(status), {}};
  if (!ck.contains.empty() && res->body.find(ck.contains) == std::string::npos)
    return {false, "GET " + ck.url + ": body lacks \"" + short_output(ck.contains) + "\"", {}};
  return {true, "status " + std::to_string(status), {}};
}

std::unique_ptr<HttpEndpoint> make_endpoint(const config::Health& cfg, Board& board,
                                            std::unique_ptr<HttpLoop> loop) {
  return std::make_unique<HttpServer>(cfg, board, std::move(loop));
}

const HttpModule kModule{kHttpModuleAbi, RSAGENT_VERSION, &make_endpoint, &probe_http};

}  // namespace

}  // namespace rsagent::health

extern "C" [[gnu::visibility("default")]] const rsagent::health::HttpModule* rsagent_http_module() {
  return &rsagent::health::kModule;
}
