#include "rsagent/health/http_check.hpp"

#include "rsagent/health/prober.hpp"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

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
    case httplib::Error::SSLConnection:
      return "TLS handshake failed (is the service speaking TLS on this port?)";
    case httplib::Error::SSLServerVerification:
      return "the service's TLS certificate is not trusted or does not name the host; fix the "
             "certificate, set \"host\" to the name it carries, or set \"tls_verify\": false";
    default:
      return httplib::to_string(e);
  }
}

template <typename C>
void limit(C& cli, std::chrono::milliseconds t) {
  const auto sec = std::chrono::duration_cast<std::chrono::seconds>(t);
  const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(t - sec);
  cli.set_connection_timeout(sec.count(), usec.count());
  cli.set_read_timeout(sec.count(), usec.count());
  cli.set_write_timeout(sec.count(), usec.count());
  cli.set_keep_alive(false);
}

// The verdict on an answer (or its absence).
ProbeResult judge(const config::Check& ck, const httplib::Result& res) {
  if (!res) return {false, "GET " + ck.url + ": " + describe(res.error(), ck.timeout), {}};
  const int status = res->status;
  const bool status_ok = ck.expect.empty()
                             ? (status >= 200 && status <= 399)
                             : std::find(ck.expect.begin(), ck.expect.end(), status) != ck.expect.end();
  if (!status_ok) return {false, "GET " + ck.url + ": status " + std::to_string(status), {}};
  if (!ck.contains.empty() && res->body.find(ck.contains) == std::string::npos)
    return {false, "GET " + ck.url + ": body lacks \"" + short_output(ck.contains) + "\"", {}};
  return {true, "status " + std::to_string(status), {}};
}

}  // namespace

ProbeResult probe_http(const config::Check& ck) {
  const std::string ip = ck.address.address.str();
  const int port = ck.address.port;
  httplib::Headers headers{{"User-Agent", "rsagent-check"}};
  if (ck.tls) {
    // The client is named for the host the certificate carries (SNI and
    // verification use it) and connects to the configured address: the
    // map keeps it from resolving the name.
    httplib::SSLClient cli(ck.host.empty() ? ip : ck.host, port);
    if (!ck.host.empty()) cli.set_hostname_addr_map({{ck.host, ip}});
    cli.enable_server_certificate_verification(ck.tls_verify);
    limit(cli, ck.timeout);
    return judge(ck, cli.Get(ck.path.c_str(), headers));
  }
  httplib::Client cli(ip, port);
  if (!ck.host.empty()) headers.emplace("Host", ck.host);
  limit(cli, ck.timeout);
  return judge(ck, cli.Get(ck.path.c_str(), headers));
}

}  // namespace rsagent::health
