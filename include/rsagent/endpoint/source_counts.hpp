// SourceCounts: how many connections each source address holds, with a cap
// per source, so that one peer can never take the slots the directors need.
// Owns only its table (one row per source with a connection open, so it is
// bounded by the connections). Threads: not thread-safe; the endpoint's loop
// thread owns it. Errors: none; admit() says no at the cap.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>

namespace rsagent::endpoint {

class SourceCounts {
 public:
  explicit SourceCounts(std::size_t per_source) : cap_(per_source) {}

  // Counts one more connection from `source`, unless it holds the cap already.
  [[nodiscard]] bool admit(const std::string& source) {
    std::size_t& n = counts_[source];
    if (n >= cap_) return false;
    ++n;
    return true;
  }
  // One connection from `source` ended.
  void release(const std::string& source) {
    const auto it = counts_.find(source);
    if (it == counts_.end()) return;
    if (--it->second == 0) counts_.erase(it);
  }
  [[nodiscard]] std::size_t count(const std::string& source) const {
    const auto it = counts_.find(source);
    return it == counts_.end() ? 0 : it->second;
  }
  [[nodiscard]] std::size_t sources() const { return counts_.size(); }

 private:
  std::size_t cap_;
  std::unordered_map<std::string, std::size_t> counts_;
};

}  // namespace rsagent::endpoint
