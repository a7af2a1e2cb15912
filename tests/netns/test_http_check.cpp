// https checks against a real nginx with TLS: the certificate is verified
// against the system CAs (here: SSL_CERT_FILE names a CA the test made, as
// OpenSSL's default paths allow), the name checked is "host" (also the SNI
// name), and "tls_verify": false accepts any certificate.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

// A CA, a certificate for check.example signed by it, and a self-signed one.
void make_certificates(const AgentNode& n) {
  const std::string d = n.dir();
  must("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=rsagent-test-ca "
       "-keyout ca.key -out ca.pem 2>/dev/null");
  n.write_file("san.ext", "subjectAltName=DNS:check.example\n");
  must("cd " + d + " && openssl req -newkey rsa:2048 -nodes -subj /CN=check.example -keyout srv.key "
       "-out srv.csr 2>/dev/null && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
       "-CAcreateserial -days 2 -extfile san.ext -out srv.pem 2>/dev/null");
  must("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=check.example "
       "-addext subjectAltName=DNS:check.example -keyout self.key -out self.pem 2>/dev/null");
}

}  // namespace

TEST_CASE("https checks verify the certificate and its name, send SNI, and say why a handshake failed") {
  AgentNode n(R"({"vips": [], "health": {"checks": [
    {"name": "trusted", "type": "http", "url": "https://127.0.0.1:8443/", "host": "check.example", "contains": "sni-ok"},
    {"name": "wrong-name", "type": "http", "url": "https://127.0.0.1:8443/"},
    {"name": "no-verify", "type": "http", "url": "https://127.0.0.1:8443/", "tls_verify": false, "contains": "default"},
    {"name": "self-signed", "type": "http", "url": "https://127.0.0.1:8444/", "host": "check.example"},
    {"name": "self-signed-no-verify", "type": "http", "url": "https://127.0.0.1:8444/", "host": "check.example", "tls_verify": false},
    {"name": "tls-on-plain", "type": "http", "url": "https://127.0.0.1:8080/", "tls_verify": false}
  ]}})");
  make_certificates(n);
  const std::string d = n.dir();
  n.write_file("nginx.conf", "worker_processes 1;\ndaemon off;\npid " + d + "/nginx.pid;\nerror_log " + d +
                                 "/nginx.err;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n"
                                 "  server { listen 127.0.0.1:8443 ssl default_server; ssl_certificate " + d +
                                 "/srv.pem; ssl_certificate_key " + d + "/srv.key;\n"
                                 "    location / { return 200 \"default\\n\"; } }\n"
                                 "  server { listen 127.0.0.1:8443 ssl; server_name check.example; ssl_certificate " + d +
                                 "/srv.pem; ssl_certificate_key " + d + "/srv.key;\n"
                                 "    location / { return 200 \"sni-ok\\n\"; } }\n"
                                 "  server { listen 127.0.0.1:8444 ssl; ssl_certificate " + d +
                                 "/self.pem; ssl_certificate_key " + d + "/self.key;\n"
                                 "    location / { return 200 \"self\\n\"; } }\n"
                                 "  server { listen 127.0.0.1:8080; location / { return 200 \"plain\\n\"; } }\n}\n");
  n.ns.run("sh -c 'nginx -c " + d + "/nginx.conf -p " + d + " >/dev/null 2>&1 &'");
  REQUIRE(wait_until([&] { return n.ns.run("curl -s http://127.0.0.1:8080/").out == "plain\n"; }, 5s));
  // The daemon trusts the test's CA as it would the system's.
  auto r = n.ns.run("env SSL_CERT_FILE=" + d + "/ca.pem " + std::string(RSAGENT_BIN) + " --config " +
                    n.config_path() + " --state-dir " + n.state_dir() + " start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  auto got = settled_checks(n.ns, 2, 10s);
  CHECK(got["trusted"].first == "up");  // verified for check.example, and SNI reached its server block
  CHECK(got["wrong-name"].first == "down");
  CHECK(got["wrong-name"].second.find("certificate is not trusted or does not name the host") != std::string::npos);
  CHECK(got["no-verify"].first == "up");
  CHECK(got["self-signed"].first == "down");
  CHECK(got["self-signed"].second.find("not trusted") != std::string::npos);
  CHECK(got["self-signed-no-verify"].first == "up");
  CHECK(got["tls-on-plain"].first == "down");
  CHECK(got["tls-on-plain"].second.find("TLS handshake failed") != std::string::npos);
  CHECK(n.rsagent("stop").code == 0);
}
