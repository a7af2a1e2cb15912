// The control server against real sockets in a temp folder: a command that
// queued behind a slow one and whose client gave up is not carried out.
#include "rsagent/daemon/control.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

using namespace rsagent;
using namespace rsagent::daemon;

TEST_CASE("a command whose client stopped waiting while it queued behind a slow one is not carried out") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: the control socket answers root only (run as root)");
    return;
  }
  char tmpl[] = "/tmp/rsagent-control-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  const std::string path = dir + "/control.sock";

  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::string> carried_out;
  auto server = ControlServer::bind(path, [&](const ControlRequest& req) {
    std::unique_lock lock(m);
    carried_out.push_back(req.cmd);
    // The first command is slow, as a drain waiting for a budget slot.
    if (carried_out.size() == 1) cv.wait(lock, [&] { return release; });
    return ControlReply{true, "done " + req.cmd, 0, 1};
  });
  REQUIRE(server);
  (*server)->start();

  Result<ControlReply> slow = make_error("not answered");
  std::thread drain([&] { slow = control_call(path, ControlRequest{"drain", "upgrade", false, false}); });
  // The drain is being served before the ready is sent.
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(m);
      if (!carried_out.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // `ready` waits its 2 s for an answer, gets none, and closes.
  const auto ready = control_call(path, ControlRequest{"ready", "", false, false});
  CHECK_FALSE(ready);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  drain.join();
  REQUIRE(slow);
  CHECK(slow->message == "done drain");
  // The server reached the ready only after its client had gone: it did
  // not carry it out. A ping after it is served as usual.
  const auto ping = control_call(path, ControlRequest{"ping", "", false, false});
  REQUIRE(ping);
  CHECK(ping->ok);
  std::lock_guard lock(m);
  CHECK(carried_out == std::vector<std::string>{"drain", "ping"});
  (*server)->stop();
  server->reset();
  std::filesystem::remove_all(dir);
}
