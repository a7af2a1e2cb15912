// The edges to the kernel: rtnetlink (links, addresses, routes; and
// rsagent's own nftables table, through libnftables) and /proc/sys (ARP
// and rp_filter sysctls), each behind a small interface with one real
// implementation here and a fake in tests/unit.
// Threads: a Kernel is not thread-safe (libnl sockets are not); one thread
// owns it. Errors: Status/Result carrying errno and the kernel's extended-ack
// text, with the object in the context ("add 198.51.100.100/32 dev lo").
// Errors are the kernel's own: EEXIST on adding what exists, ESRCH or
// EADDRNOTAVAIL on deleting what is gone (the engine decides what those mean),
// EOPNOTSUPP on creating a link of a type the kernel does not have (no
// ipip module).
#pragma once

#include "rsagent/net/model.hpp"
#include "rsagent/util/result.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rsagent::net {

struct KernelSnapshot {
  std::vector<Link> links;
  std::vector<ObservedAddress> addresses;
  // Host routes of the main and other tables; of the local table, only the
  // `local` routes: any on lo, and those someone added elsewhere (the
  // kernel's local route of an address on another interface, and its
  // broadcast routes, are left out).
  std::vector<ObservedRoute> routes;
};

struct KernelOp {
  enum class Kind : std::uint8_t {
    kAddAddress, kDelAddress, kAddRoute, kDelRoute, kAddLink, kDelLink, kLinkUp, kLinkDown,
    kSetClamp, kDelClamp  // rsagent's nftables table: replaced whole (nft), deleted
  };
  Kind kind = Kind::kAddAddress;
  AddressSpec address;
  RouteSpec route;
  LinkSpec link;  // link ops act by name; kAddLink creates it up
  std::string nft;  // kSetClamp: the ruleset, as nft -f reads it
  // 0 with address.dev set: the device is found by name when the op is
  // sent (it may have been created by an op just before).
  int ifindex = 0;
  [[nodiscard]] std::string str() const;  // "add address 198.51.100.1/32 dev lo label lo:0"
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // with_objects=false: links only (a revert needs no address or route dump).
  [[nodiscard]] virtual Result<KernelSnapshot> observe(bool with_objects = true) = 0;
  // Carries out every op, in order, and returns one Status per op. The real
  // implementation sends them in pipelined batches (as `ip -batch` would, but
  // without a round trip per op); a failure does not stop the ops after it.
  [[nodiscard]] virtual std::vector<Status> execute(const std::vector<KernelOp>& ops) = 0;

  [[nodiscard]] Status execute_one(const KernelOp& op) { return std::move(execute({op}).at(0)); }

  // `nft list table inet rsagent_tunnel`, nullopt when there is no such
  // table (through libnftables; only asked for in tunnel mode).
  [[nodiscard]] virtual Result<std::optional<std::string>> clamp_listing() = 0;

  // An fd that turns readable when links, addresses or routes change (a
  // separate socket on the rtnetlink multicast groups), or nftables rules
  // (the real one: a socket on nftables' group, both under one epoll fd).
  // The owner polls it and calls drain_events(), which reads everything
  // pending without blocking and reports whether any of it may concern
  // rsagent (every rtnetlink event; of nftables, only its own table's) and
  // whether the kernel dropped events (ENOBUFS: the caller must resync from
  // a full dump).
  [[nodiscard]] virtual Result<int> open_events() = 0;
  struct Drained {
    bool changed = true;
    bool lost = false;
  };
  virtual Drained drain_events() = 0;
};

class SysctlStore {
 public:
  virtual ~SysctlStore() = default;
  // ENOENT when the interface (and so the file) does not exist.
  [[nodiscard]] virtual Result<int> read(const SysctlKey& key) = 0;
  [[nodiscard]] virtual Status write(const SysctlKey& key, int value) = 0;
};

// The real ones. make_netlink_kernel fails when no rtnetlink socket can be opened.
[[nodiscard]] Result<std::unique_ptr<Kernel>> make_netlink_kernel();
[[nodiscard]] std::unique_ptr<SysctlStore> make_proc_sysctl_store(std::string root = "/proc/sys");

// The RTM_NEWLINK request, as bytes, that the netlink kernel sends for a
// kAddLink op (the device of spec.kind, external mode, up), less what the
// sender adds to every request (NLM_F_REQUEST, NLM_F_ACK, the sequence
// number). Empty when it cannot be built (no memory). For tests, which read
// it with the kernel's own headers, not libnl.
[[nodiscard]] std::vector<std::uint8_t> tunnel_link_request(const LinkSpec& spec);

}  // namespace rsagent::net
