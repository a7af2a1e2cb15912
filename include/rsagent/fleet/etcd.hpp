// etcd's v3 API, spoken through its JSON gateway (HTTP/1.1 POSTs of JSON
// to /v3/..., keys and values base64). Owns: the request bodies and the
// parsing of the answers (EtcdClient), over a Transport that carries one
// POST with a deadline. The real Transport is cpp-httplib's client
// (fleet/http_transport.hpp, linked only into rsagentd); tests hand in a
// fake. Why the gateway rather than gRPC: etcd serves it on its client
// port by default, it needs no generated code and no gRPC/protobuf stack
// (Debian ships no etcd gRPC client library for C++), and its JSON is the
// same v3 API (leases, transactions) a budget needs.
// Threads: an EtcdClient is used by one thread at a time (the publisher's,
// or the `fleet` command's). Errors: every call returns a Result whose
// message names the endpoint and what failed; nothing throws.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/util/result.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rsagent::fleet {

struct HttpReply {
  int status = 0;
  std::string body;
};

// One POST of a JSON body to one of the endpoints, within `deadline`.
// The deadline bounds the connect and each read and write of the call.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Result<HttpReply> post(const std::string& path, const std::string& body,
                                 std::chrono::milliseconds deadline) = 0;
  // The endpoint the last call went to (for messages).
  [[nodiscard]] virtual std::string where() const = 0;
};

// Builds the transport for a fleet section; null when this binary has none
// (the CLI binary `rsagent` links no HTTP client).
using TransportFactory = std::unique_ptr<Transport> (*)(const config::Fleet&);

[[nodiscard]] std::string base64_encode(const std::string& in);
[[nodiscard]] Result<std::string> base64_decode(const std::string& in);
// The end of the key range that holds every key starting with `prefix`
// (the prefix with its last byte plus one), as etcd's range_end wants.
[[nodiscard]] std::string prefix_end(const std::string& prefix);

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t lease = 0;
  std::int64_t mod_revision = 0;
};

struct RangeReply {
  std::int64_t revision = 0;  // the store's revision when read
  std::vector<KeyValue> kvs;
};

class EtcdClient {
 public:
  EtcdClient(Transport& t, std::chrono::milliseconds deadline) : t_(t), deadline_(deadline) {}

  // A lease of `ttl` whole seconds; its id.
  Result<std::int64_t> grant(std::chrono::seconds ttl);
  // One keep-alive; the lease's remaining TTL in seconds, 0 when etcd no
  // longer knows it (expired or revoked: grant a new one).
  Result<std::int64_t> keepalive(std::int64_t lease);
  Result<void> revoke(std::int64_t lease);
  Result<void> put(const std::string& key, const std::string& value, std::int64_t lease);
  // Every key under `prefix`, sorted by key.
  Result<RangeReply> range_prefix(const std::string& prefix);
  Result<void> remove(const std::string& key);
  // A transaction: put key=value on `lease` only when no key under `range`
  // (a prefix) was created or changed after `revision`; whether it was
  // put. Keys that left meanwhile do not fail it. The drain budget's take:
  // a decision made from a read at `revision` holds when this succeeds.
  Result<bool> put_if_unchanged(const std::string& key, const std::string& value, std::int64_t lease,
                                const std::string& range, std::int64_t revision);

 private:
  Result<std::string> call(const std::string& path, const std::string& body);
  Transport& t_;
  std::chrono::milliseconds deadline_;
};

}  // namespace rsagent::fleet
