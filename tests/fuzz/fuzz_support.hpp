// Shared by the libFuzzer targets: an invariant check that stops the run
// with a message (libFuzzer then saves the input as a reproducer), and a
// per-process temp folder for the targets whose code under test takes paths.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond, what)                                                        \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "invariant broken at %s:%d: %s\n  %s\n", __FILE__, __LINE__, \
                   #cond, std::string(what).c_str());                                 \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace rsagent::fuzz {

// A folder under $TMPDIR (or /tmp) made once per process and removed with
// everything in it when the process exits normally.
const std::string& temp_dir();

// Writes `data` to `path` (replacing it); aborts when it cannot, which is
// the machine's fault, not a finding in the code under test.
void write_file(const std::string& path, std::string_view data);

// Whether `s` is what text::printable makes: valid UTF-8 and no control
// character (newlines allowed when `newlines`).
bool is_printable(std::string_view s, bool newlines = false);

}  // namespace rsagent::fuzz
