// libFuzzer target: one configuration file, loaded from disk as the daemon
// loads it (config::load takes a path), no conf.d.
#include "config_checks.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string path = rsagent::fuzz::temp_dir() + "/rsagent.json";
  rsagent::fuzz::write_file(path, text);
  rsagent::fuzz::check_load(path, {{path, text}});
  return 0;
}
