// Shared by the libFuzzer targets: an invariant check that stops the run
// with a message (libFuzzer then saves the input as a reproducer), and a
// per-process temp folder for the targets whose code under test takes paths.
#pragma once

#include <string>
#include <string_view>

// Stops the run when `cond` is false, printing `what` (made printable).
#define FUZZ_CHECK(cond, what)                                             \
  do {                                                                     \
    if (!(cond)) ::rsagent::fuzz::broken(__FILE__, __LINE__, #cond, what); \
  } while (0)

namespace rsagent::fuzz {

// Prints where an invariant broke and aborts: libFuzzer keeps the input.
[[noreturn]] void broken(const char* file, int line, const char* cond, const std::string& what);

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
