#include "rsagent/daemon/fleet_link.hpp"

#include "rsagent/util/log.hpp"

namespace rsagent::daemon {

void FleetLink::apply(const config::Fleet& f) {
  if (running_ && *running_ == f) return;
  stop();
  if (!f.enabled()) return;
  if (factory_ == nullptr) {
    log::warning("fleet: this binary has no etcd client; the fleet section is ignored");
    return;
  }
  const std::string name = fleet::node_name(f);
  verdict::Board* board = &board_;
  auto p = std::make_unique<fleet::Publisher>(f, factory_(f), [name, board] {
    return fleet::make_record(name, *board->snapshot(), board->directors(), fleet::local_addresses());
  });
  p->start();
  log::info("fleet: publishing this node as " + name + " under " + f.prefix + " (etcd " + f.endpoints.front() +
            (f.endpoints.size() > 1 ? " and others" : "") + ")");
  std::lock_guard lock(mutex_);
  publisher_ = std::move(p);
  running_ = f;
}

void FleetLink::notify() {
  std::lock_guard lock(mutex_);
  if (publisher_) publisher_->notify();
}

void FleetLink::stop() {
  std::unique_ptr<fleet::Publisher> p;
  {
    std::lock_guard lock(mutex_);
    p = std::move(publisher_);
    running_.reset();
  }
  if (p) p->stop();  // outside the lock: notify() never waits on an etcd call
}

}  // namespace rsagent::daemon
