// AcceptLoop's listener swap: the caller hands a new socket over and goes
// on, even while the loop's thread sits in a handler that waits for that
// very caller.
#include "rsagent/util/accept_loop.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace rsagent;
using namespace std::chrono_literals;

namespace {

// A listening abstract unix socket, unique to this process and `tag`;
// non-blocking, as the loop's listeners are.
UniqueFd listen_abstract(const std::string& tag) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const std::string name = "rsagent-test-" + std::to_string(::getpid()) + "-" + tag;
  std::memcpy(sa.sun_path + 1, name.data(), name.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) == 0);
  REQUIRE(::listen(fd.get(), 8) == 0);
  return fd;
}

bool connect_abstract(const std::string& tag) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const std::string name = "rsagent-test-" + std::to_string(::getpid()) + "-" + tag;
  std::memcpy(sa.sun_path + 1, name.data(), name.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) == 0;
}

}  // namespace

TEST_CASE("a listener handed to a busy accept loop is swapped in without waiting for the busy handler") {
  AcceptLoop loop(listen_abstract("old"), 0, "test");
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<int> served{0};
  loop.start([&](UniqueFd) {
    if (served++ == 0) released.wait();  // the first connection blocks, as a queued reload does
  });
  REQUIRE(connect_abstract("old"));
  // The handler is now (or soon) blocked; the swap must return regardless.
  auto swapped = std::async(std::launch::async, [&] { loop.replace_listener(listen_abstract("new")); });
  CHECK(swapped.wait_for(5s) == std::future_status::ready);
  release.set_value();
  // Once the handler returns, the loop serves the new socket.
  REQUIRE(connect_abstract("new"));
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (served.load() < 2 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(5ms);
  CHECK(served.load() == 2);
  loop.stop();
}
