#include "rsagent/fleet/http_transport.hpp"

#include <httplib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <utility>
#include <vector>

namespace rsagent::fleet {

namespace {

class HttpTransport : public Transport {
 public:
  explicit HttpTransport(const config::Fleet& f) : cfg_(f) {}

  Result<HttpReply> post(const std::string& path, const std::string& body,
                         std::chrono::milliseconds deadline) override {
    // httplib only says a client whose files did not load is not valid, so
    // the file and the reason are named here, on every call; the clients
    // are made again once the files read, as the operator may fix them
    // while the daemon runs.
    auto files = tls_files();
    if (!files) {
      clients_.clear();
      return files.error();
    }
    // httplib reads the files once, when a client is made: a certificate
    // renewed in place (a short-lived one, replaced by rename) is taken up
    // by making the clients again, before the old one expires.
    if (*files != files_) {
      clients_.clear();
      files_ = *files;
    }
    if (clients_.empty()) {
      for (const auto& e : cfg_.endpoints) clients_.push_back(make_client(e));
    }
    Error last = make_error("no endpoint");
    // Start with the endpoint that answered last; on a failure try the
    // others once each, so one dead member of a cluster costs one deadline.
    for (std::size_t n = 0; n < clients_.size(); ++n) {
      const std::size_t i = (current_ + n) % clients_.size();
      auto& c = *clients_[i];
      const auto sec = static_cast<time_t>(deadline.count() / 1000);
      const auto usec = static_cast<time_t>((deadline.count() % 1000) * 1000);
      c.set_connection_timeout(sec, usec);
      c.set_read_timeout(sec, usec);
      c.set_write_timeout(sec, usec);
      auto res = c.Post(path.c_str(), body, "application/json");
      if (res) {
        current_ = i;
        return HttpReply{res->status, res->body};
      }
      const bool https = cfg_.endpoints[i].rfind("https://", 0) == 0;
      last = make_error(cfg_.endpoints[i] + ": " + why(res.error(), deadline, https));
      current_ = (i + 1) % clients_.size();
    }
    return last;
  }

  [[nodiscard]] std::string where() const override {
    return cfg_.endpoints.empty() ? std::string("(none)") : cfg_.endpoints[current_ % cfg_.endpoints.size()];
  }

 private:
  // Each TLS file's identity (device, inode, size, modification time), or
  // the one that cannot be read, named.
  [[nodiscard]] Result<std::string> tls_files() const {
    std::string ids;
    for (const auto& [what, path] : {std::pair<const char*, const std::string&>{"cert", cfg_.cert},
                                     {"key", cfg_.key},
                                     {"ca", cfg_.ca}}) {
      if (path.empty()) continue;
      struct stat st {};
      std::ifstream in(path);
      if (!in || ::stat(path.c_str(), &st) != 0)
        return make_error("cannot read fleet.etcd." + std::string(what) + " " + path + ": " + std::strerror(errno));
      ids += std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
             std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ";";
    }
    return ids;
  }

  // What failed, in words an operator can act on: a TLS refusal is not a
  // timeout, and the files it names are the ones to fix.
  [[nodiscard]] std::string why(httplib::Error e, std::chrono::milliseconds deadline, bool https) const {
    const std::string ms = std::to_string(deadline.count()) + " ms";
    switch (e) {
      case httplib::Error::Connection:
      case httplib::Error::ConnectionTimeout:
        return "cannot connect within " + ms;
      case httplib::Error::Read:
      case httplib::Error::Write:
        // Over TLS 1.3 a server that wants a client certificate refuses
        // after the handshake, so a missing one looks like a closed read.
        return "no answer within " + ms +
               (https && cfg_.cert.empty()
                    ? std::string(" (if etcd wants client certificates, set fleet.etcd.cert and key)")
                    : std::string());
      case httplib::Error::SSLServerVerification:
        return "etcd's certificate is not trusted" +
               (cfg_.ca.empty() ? std::string(" by the system's CAs (set fleet.etcd.ca)")
                                : " by fleet.etcd.ca " + cfg_.ca) +
               ", or does not name this host";
      case httplib::Error::SSLLoadingCerts:
        return "cannot load the TLS files (fleet.etcd.cert " + cfg_.cert + ", key " + cfg_.key + ", ca " +
               cfg_.ca + ")";
      case httplib::Error::SSLConnection:
        return "the TLS handshake failed (does etcd want a client certificate: fleet.etcd.cert and key?)";
      default:
        return httplib::to_string(e);
    }
  }

  std::unique_ptr<httplib::Client> make_client(const std::string& url) const {
    std::unique_ptr<httplib::Client> c;
    if (!cfg_.cert.empty()) {
      c = std::make_unique<httplib::Client>(url, cfg_.cert, cfg_.key);
    } else {
      c = std::make_unique<httplib::Client>(url);
    }
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
    if (url.rfind("https://", 0) == 0) {
      if (!cfg_.ca.empty()) c->set_ca_cert_path(cfg_.ca);
      c->enable_server_certificate_verification(true);
    }
#endif
    // One connection kept per endpoint: a keep-alive every few seconds
    // does not open a new one each time.
    c->set_keep_alive(true);
    // The client writes a POST's headers and body in two sends; with Nagle
    // the body waits for the ACK of the headers, which etcd's kernel delays
    // by 40 ms: every etcd call took 44 ms instead of 1.5 ms
    // (tests/bench/fleet_bench.sh).
    c->set_tcp_nodelay(true);
    return c;
  }

  config::Fleet cfg_;
  std::vector<std::unique_ptr<httplib::Client>> clients_;
  std::string files_;  // tls_files() when clients_ were made
  std::size_t current_ = 0;
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(const config::Fleet& f) {
  return std::make_unique<HttpTransport>(f);
}

}  // namespace rsagent::fleet
