#define DOCTEST_CONFIG_IMPLEMENT
#include "rsagent/util/log.hpp"

#include <doctest/doctest.h>

int main(int argc, char** argv) {
  // The engine logs every change; unit tests assert on state, not on log lines.
  rsagent::log::Options quiet;
  quiet.level = rsagent::log::Level::kError;
  quiet.to_stderr = false;
  rsagent::log::configure(quiet);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
