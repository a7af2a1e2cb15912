// Small filesystem helpers with result types.
// Owns: atomic file replacement (temp file, fsync, rename, fsync of the
// folder) so a crash leaves either the old or the new content, never a torn
// file; whole-file reads; mkdir -p. No threads; errors carry errno and the path.
#pragma once

#include "rsagent/util/result.hpp"

#include <optional>
#include <string>

namespace rsagent::fs {

// durable=false skips the fsyncs: still never torn, but may be lost in a
// power cut (fine for advisory files such as the pidfile in /run).
[[nodiscard]] Status write_atomic(const std::string& path, const std::string& content,
                                  unsigned mode = 0600, bool durable = true);
// nullopt when the file does not exist; an error for anything else.
[[nodiscard]] Result<std::optional<std::string>> read_if_exists(const std::string& path);
[[nodiscard]] Status make_dirs(const std::string& path, unsigned mode = 0755);
[[nodiscard]] Status remove_if_exists(const std::string& path);
// The folder part of `path`: "." without a slash, "/" for a file in the root.
[[nodiscard]] std::string parent_dir(const std::string& path);

}  // namespace rsagent::fs
