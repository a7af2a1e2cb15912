// libFuzzer target: a main configuration file and conf.d drop-ins. The
// input is split at each line "---": the first piece is rsagent.json, the
// others conf.d/10.json, conf.d/20.json, ... (merged in that order).
#include "config_checks.hpp"

#include <sys/stat.h>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view kSeparator = "\n---\n";
constexpr std::size_t kMaxDropins = 8;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::vector<std::string> written;  // last round's drop-ins
  const std::string& dir = rsagent::fuzz::temp_dir();
  const std::string main_path = dir + "/rsagent.json";
  const std::string confd = dir + "/conf.d";
  static const bool made = [&] { return ::mkdir(confd.c_str(), 0700) == 0; }();
  (void)made;
  for (const auto& p : written) std::remove(p.c_str());
  written.clear();

  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<rsagent::config::Source> sources;
  while (true) {
    const std::size_t cut =
        sources.size() <= kMaxDropins ? rest.find(kSeparator) : std::string_view::npos;
    const std::string_view piece = rest.substr(0, cut);
    std::string path = main_path;
    if (!sources.empty()) {
      char name[32];
      std::snprintf(name, sizeof name, "/%02zu.json", sources.size() * 10);
      path = confd + name;
      written.push_back(path);
    }
    rsagent::fuzz::write_file(path, piece);
    sources.push_back({path, std::string(piece)});
    if (cut == std::string_view::npos) break;
    rest.remove_prefix(cut + kSeparator.size());
  }
  rsagent::fuzz::check_load(main_path, sources);
  return 0;
}
