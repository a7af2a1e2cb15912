// The CLI's one table of commands: each command's name, the options it
// takes, what runs it and its help. Dispatch, option parsing and `--help`
// are all read from it, so the usage text cannot drift from the commands
// (as wireguard-tools' wg.c keeps its subcommands). Owns: that table and the
// usage it renders. Pure data and text; no threads; an unknown command or
// option is a nullptr / an error string for main.cpp to print.
#pragma once

#include "rsagent/daemon/options.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rsagent::cli {

using daemon::CommandOptions;

struct Option {
  std::string_view name;   // "--reason"
  std::string_view value;  // what it takes ("TEXT"), empty for a flag
  std::string_view help;
  // Records the option (value: what followed it; a flag gets ""); an error
  // text when the value is wrong.
  std::optional<std::string> (*set)(CommandOptions& opts, const std::string& value);
};

struct Command {
  std::string_view name;
  std::span<const Option> options;
  int (*run)(const CommandOptions& opts);
  std::string_view help;  // wrapped by usage(); may hold paragraphs ("\n")
};

[[nodiscard]] std::span<const Command> commands();
[[nodiscard]] const Command* find_command(std::string_view name);
// Parses the options after the command into `opts`; an error text naming
// the option and what the command takes when one is wrong.
[[nodiscard]] std::optional<std::string> parse_options(const Command& c,
                                                        std::span<const std::string> args,
                                                        CommandOptions& opts);
// `rsagent --help`: every command of the table with its options.
[[nodiscard]] std::string usage();

}  // namespace rsagent::cli
