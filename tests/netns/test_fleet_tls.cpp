// The fleet over TLS: a real etcd (Debian's etcd-server) that serves only
// https and demands a client certificate, with a CA, server and client
// certificates made by openssl for the test. A node publishes with its
// client certificate; an operator without the right CA, or without a client
// certificate, is refused and told why.
#include "../support/etcd_fixture.hpp"
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <filesystem>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

// A CA with one server certificate (for kEtcdIp) and one client certificate,
// and a second CA that signed nothing etcd has: what a misconfigured node
// trusts.
class Pki {
 public:
  Pki() {
    char tmpl[] = "/tmp/rsagent-pki-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    run("openssl req -x509" + ec + " -keyout ca.key -out ca.crt -days 2 -subj /CN=rsagent-test-ca");
    run("openssl req -x509" + ec + " -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca");
    // etcd 3.4's JSON gateway dials etcd's own gRPC port with the server
    // certificate as its client certificate when client certificates are
    // required, so that certificate must be good for both.
    run("printf 'subjectAltName=IP:" + std::string(kEtcdIp) +
        "\\nextendedKeyUsage=serverAuth,clientAuth\\n' >server.ext");
    run("printf 'extendedKeyUsage=clientAuth\\n' >client.ext");
    for (const char* who : {"server", "client"}) {
      const std::string w = who;
      run("openssl req" + ec + " -keyout " + w + ".key -out " + w + ".csr -subj /CN=" + w);
      run("openssl x509 -req -in " + w + ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out " + w +
          ".crt -extfile " + w + ".ext");
    }
    // A client certificate etcd does not accept (another CA signed it).
    run("openssl req" + ec + " -keyout stale.key -out stale.csr -subj /CN=stale");
    run("openssl x509 -req -in stale.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial -days 2 "
        "-out stale.crt -extfile client.ext");
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  [[nodiscard]] std::string path(const std::string& f) const { return dir_ + "/" + f; }

 private:
  void run(const std::string& cmd) const {
    const auto r = sh("cd " + dir_ + " && " + cmd + " 2>&1");
    REQUIRE_MESSAGE(r.code == 0, cmd << "\n" << r.out);
  }
  std::string dir_;
};

// etcd over https with client certificates required, from `pki`.
EtcdTls etcd_tls(const Pki& pki) {
  return {pki.path("server.crt"), pki.path("server.key"), pki.path("ca.crt"),
          "--cacert " + pki.path("ca.crt") + " --cert " + pki.path("client.crt") + " --key " + pki.path("client.key")};
}

// The fleet section over https: trusting `ca`, with the client certificate
// and key at `cert` and `key` (none when empty).
std::string tls_fleet(const Pki& pki, const std::string& name, const std::string& ca, const std::string& cert,
                      const std::string& key) {
  std::string etcd = std::string(R"({"endpoints": ["https://)") + kEtcdIp + R"(:2379"], "ca": ")" + pki.path(ca) + "\"";
  if (!cert.empty()) etcd += R"(, "cert": ")" + cert + R"(", "key": ")" + key + "\"";
  return R"("fleet": {"etcd": )" + etcd + R"(}, "ttl": "3s")" + (name.empty() ? "" : R"(, "name": ")" + name + "\"") +
         "}";
}

}  // namespace

TEST_CASE("a node publishes over TLS with its client certificate, and fleet reads it back over TLS") {
  Pki pki;
  Lan lan;
  Etcd etcd(lan, etcd_tls(pki));
  AgentNode node(R"({"vips": ["198.51.100.40"], "health": {"listen": ["0.0.0.0:9797"]}, )" +
                 tls_fleet(pki, "tls-node", "ca.crt", pki.path("client.crt"), pki.path("client.key")) + "}");
  lan.attach(node.ns, "203.0.113.20/24");
  const auto started = node.rsagent("start");
  REQUIRE_MESSAGE(started.code == 0, started.out);
  CHECK_MESSAGE(wait_until([&] { return etcd.has("/rsagent/nodes/tls-node"); }, 15s, 100ms),
                sh("tail -20 " + node.dir() + "/log").out);

  AgentNode op("{" + tls_fleet(pki, "", "ca.crt", pki.path("client.crt"), pki.path("client.key")) + "}");
  lan.attach(op.ns, "203.0.113.99/24");
  const auto r = op.rsagent("fleet --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(j.is_object());
  REQUIRE(j["nodes"].size() == 1);
  CHECK(j["nodes"][0]["name"] == "tls-node");
  CHECK(j["nodes"][0]["verdict"] == "ready");
}

TEST_CASE("fleet over TLS is refused, saying why, when the CA does not trust etcd or no client certificate is given") {
  Pki pki;
  Lan lan;
  Etcd etcd(lan, etcd_tls(pki));

  AgentNode wrong_ca("{" + tls_fleet(pki, "", "other-ca.crt", pki.path("client.crt"), pki.path("client.key")) + "}");
  lan.attach(wrong_ca.ns, "203.0.113.98/24");
  const auto r1 = wrong_ca.rsagent("fleet --json");
  CHECK(r1.code == 1);
  CHECK_MESSAGE(r1.out.find("etcd is unreachable") != std::string::npos, r1.out);
  CHECK_MESSAGE(r1.out.find("certificate is not trusted by fleet.etcd.ca") != std::string::npos, r1.out);

  AgentNode no_cert("{" + tls_fleet(pki, "", "ca.crt", "", "") + "}");
  lan.attach(no_cert.ns, "203.0.113.97/24");
  const auto r2 = no_cert.rsagent("fleet --json");
  CHECK(r2.code == 1);
  CHECK_MESSAGE(r2.out.find("etcd is unreachable") != std::string::npos, r2.out);
  CHECK_MESSAGE(r2.out.find("fleet.etcd.cert and key") != std::string::npos, r2.out);
}

TEST_CASE("a node whose client certificate is missing stays ready, names the file, and publishes once it appears") {
  Pki pki;
  Lan lan;
  Etcd etcd(lan, etcd_tls(pki));
  Netns director;
  lan.attach(director, "203.0.113.1/24");
  AgentNode node("{}");
  const std::string cert = node.dir() + "/client.crt";
  const std::string fleet = tls_fleet(pki, "late-cert", "ca.crt", cert, pki.path("client.key"));
  node.write_config(R"({"vips": ["198.51.100.41"], "health": {"listen": ["0.0.0.0:9797"]}, )" + fleet + "}");
  lan.attach(node.ns, "203.0.113.21/24");
  const std::string log = node.run_in_background();
  REQUIRE(wait_until([&] { return node.rsagent("status").code == 0; }, 15s, 100ms));

  const auto said = [&] { return sh("cat " + log).out; };
  CHECK_MESSAGE(wait_until([&] { return said().find("cannot read fleet.etcd.cert " + cert) != std::string::npos; },
                           10s, 100ms),
                said());
  // The directors see no difference.
  CHECK(director.run("curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://203.0.113.21:9797/healthz").out ==
        "200");
  CHECK_FALSE(etcd.has("/rsagent/nodes/late-cert"));

  REQUIRE(sh("cp " + pki.path("client.crt") + " " + cert).code == 0);
  CHECK_MESSAGE(wait_until([&] { return etcd.has("/rsagent/nodes/late-cert"); }, 15s, 100ms), said());
}

TEST_CASE("a client certificate renewed in place is taken up without a reload") {
  Pki pki;
  Lan lan;
  Etcd etcd(lan, etcd_tls(pki));
  AgentNode node("{}");
  // The node's certificate and key as a renewal tool keeps them: one path
  // each, replaced by rename. It starts with one etcd does not accept.
  const std::string cert = node.dir() + "/client.crt";
  const std::string key = node.dir() + "/client.key";
  REQUIRE(sh("cp " + pki.path("stale.crt") + " " + cert + " && cp " + pki.path("stale.key") + " " + key).code == 0);
  const std::string fleet = tls_fleet(pki, "renewed", "ca.crt", cert, key);
  node.write_config(R"({"vips": ["198.51.100.42"], "health": {"listen": ["0.0.0.0:9797"]}, )" + fleet + "}");
  lan.attach(node.ns, "203.0.113.22/24");
  const std::string log = node.run_in_background();
  REQUIRE(wait_until([&] { return node.rsagent("status").code == 0; }, 15s, 100ms));
  const auto said = [&] { return sh("cat " + log).out; };
  // etcd refuses the stale certificate: the publisher says etcd is unreachable.
  CHECK_MESSAGE(wait_until([&] { return said().find("unreachable") != std::string::npos; }, 15s, 100ms), said());
  CHECK_FALSE(etcd.has("/rsagent/nodes/renewed"));

  // The renewal: new files written beside the old ones, then renamed over.
  REQUIRE(sh("cp " + pki.path("client.key") + " " + key + ".new && mv " + key + ".new " + key + " && cp " +
             pki.path("client.crt") + " " + cert + ".new && mv " + cert + ".new " + cert)
              .code == 0);
  CHECK_MESSAGE(wait_until([&] { return etcd.has("/rsagent/nodes/renewed"); }, 20s, 100ms), said());
}
