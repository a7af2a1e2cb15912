// Kernel tests need root (network namespaces). A plain user gets a skip
// (ctest's code 77) with a message; under CI a skip is a failure.
#define DOCTEST_CONFIG_IMPLEMENT
#include "../support/netns.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <unistd.h>

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing = listing || std::strstr(argv[i], "-l") == argv[i] ||
                                           std::strstr(argv[i], "--list") == argv[i];
  if (!listing && ::geteuid() != 0) {
    if (std::getenv("CI") != nullptr) {
      std::cerr << "kernel tests need root and CI must run them: failing instead of skipping\n";
      return 1;
    }
    std::cerr << "kernel tests skipped: they need root to create network namespaces "
                 "(run `sudo ctest -L netns`)\n";
    return 77;
  }
  if (!listing) rsagent::testing::sweep_stale_namespaces();
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
