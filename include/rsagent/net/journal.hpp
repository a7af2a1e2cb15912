// The write-ahead journal: what rsagent changed and what was there before.
// Owns: the JSON encoding of net::Journal and the journal file in the runtime
// state folder (replaced atomically, so a crash at any instant leaves a whole
// journal that `stop` can revert from). No threads of its own; the caller
// serialises access. Errors name the file and what is wrong with it.
#pragma once

#include "rsagent/net/model.hpp"
#include "rsagent/util/result.hpp"

#include <optional>
#include <string>

namespace rsagent::net {

[[nodiscard]] std::string encode_journal(const Journal& j);
[[nodiscard]] Result<Journal> decode_journal(const std::string& text);

class JournalStore {
 public:
  explicit JournalStore(std::string path) : path_(std::move(path)) {}
  // nullopt: no journal, so nothing to revert.
  [[nodiscard]] Result<std::optional<Journal>> load() const;
  [[nodiscard]] Status save(const Journal& j) const;
  [[nodiscard]] Status remove() const;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace rsagent::net
