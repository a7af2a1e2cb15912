// What the config targets check on every load, besides "no crash".
#pragma once

#include "fuzz_support.hpp"
#include "rsagent/config/config.hpp"

#include <string>
#include <vector>

namespace rsagent::fuzz {

// load() of the files must agree with parse_sources() of their texts, every
// error must name a file and a position and read as printable text, and a
// configuration that loads must survive `check-config --print`.
inline void check_load(const std::string& main_path, const std::vector<config::Source>& sources) {
  const config::LoadResult loaded = config::load(main_path);
  const config::LoadResult pure = config::parse_sources(sources);
  FUZZ_CHECK(loaded.config.has_value() == pure.config.has_value(),
             "load and parse_sources disagree");
  FUZZ_CHECK(loaded.config.has_value() == loaded.errors.empty(), "a config and errors at once");
  if (loaded.config) FUZZ_CHECK(*loaded.config == *pure.config, "load and parse_sources differ");
  FUZZ_CHECK(loaded.errors.size() == pure.errors.size(), "error counts differ");
  if (loaded.config) {
    // `check-config --print` shows a configuration rsagent reads back as the same one.
    const std::string printed = config::render(*loaded.config);
    FUZZ_CHECK(is_printable(printed, true), "check-config --print is not printable");
    const config::LoadResult again = config::parse_sources({{"printed.json", printed}});
    FUZZ_CHECK(again.config.has_value(), "check-config --print does not load: " +
                                             again.errors.front().str() + "\n" + printed);
    FUZZ_CHECK(*again.config == *loaded.config,
               "check-config --print loads as another config:\n" + printed);
  }
  for (const auto& d : loaded.errors) {
    FUZZ_CHECK(d.pos.line >= 1 && d.pos.col >= 1, d.str());
    FUZZ_CHECK(!d.message.empty(), d.str());
    FUZZ_CHECK(is_printable(d.str()), "an error message is not printable: " + d.str());
  }
}

}  // namespace rsagent::fuzz
