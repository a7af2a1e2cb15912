#include "fuzz_support.hpp"

#include "rsagent/util/text.hpp"

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace rsagent::fuzz {

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/rsagent-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

const std::string& temp_dir() {
  static const TempDir dir;
  return dir.path;
}

void write_file(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) {
    std::perror(path.c_str());
    std::abort();
  }
}

void broken(const char* file, int line, const char* cond, const std::string& what) {
  std::fprintf(stderr, "invariant broken at %s:%d: %s\n  %s\n", file, line, cond,
               text::printable(what, /*keep_newlines=*/true).c_str());
  std::abort();
}

bool is_printable(std::string_view s, bool newlines) {
  return text::valid_utf8(s) && text::printable(s, newlines) == s;
}

}  // namespace rsagent::fuzz
