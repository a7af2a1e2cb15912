#include "rsagent/util/loop_thread.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace rsagent {

LoopThread::LoopThread() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void LoopThread::start(std::function<void()> body) {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread(std::move(body));
}

void LoopThread::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  wake();
  thread_.join();
  clear();
}

void LoopThread::wake() {
  const std::uint64_t one = 1;
  (void)!::write(fd_.get(), &one, sizeof one);
}

void LoopThread::clear() {
  std::uint64_t n = 0;
  (void)!::read(fd_.get(), &n, sizeof n);
}

}  // namespace rsagent
