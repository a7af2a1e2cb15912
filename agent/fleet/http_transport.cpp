#include "rsagent/fleet/http_transport.hpp"

#include <httplib.h>

#include <vector>

namespace rsagent::fleet {

namespace {

class HttpTransport : public Transport {
 public:
  explicit HttpTransport(const config::Fleet& f) : cfg_(f) {}

  Result<HttpReply> post(const std::string& path, const std::string& body,
                         std::chrono::milliseconds deadline) override {
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
      last = make_error(cfg_.endpoints[i] + ": no answer within " + std::to_string(deadline.count()) +
                        " ms (" + httplib::to_string(res.error()) + ")");
      current_ = (i + 1) % clients_.size();
    }
    return last;
  }

  [[nodiscard]] std::string where() const override {
    return cfg_.endpoints.empty() ? std::string("(none)") : cfg_.endpoints[current_ % cfg_.endpoints.size()];
  }

 private:
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
    return c;
  }

  config::Fleet cfg_;
  std::vector<std::unique_ptr<httplib::Client>> clients_;
  std::size_t current_ = 0;
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(const config::Fleet& f) {
  return std::make_unique<HttpTransport>(f);
}

}  // namespace rsagent::fleet
