// /proc/sys access for the ARP sysctls. Kept apart from netlink: these are
// plain file reads and writes, and each write is a single value.
#include "rsagent/net/kernel.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace rsagent::net {

namespace {

class ProcSysctlStore final : public SysctlStore {
 public:
  explicit ProcSysctlStore(std::string root) : root_(std::move(root)) {}

  Result<int> read(const SysctlKey& key) override {
    const std::string path = root_ + "/" + key.path();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_error(errno, "read " + key.str());
    char buf[32] = {};
    ssize_t n;
    do {
      n = ::read(fd, buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    const int e = errno;
    ::close(fd);
    if (n < 0) return errno_error(e, "read " + key.str());
    char* end = nullptr;
    const long v = std::strtol(buf, &end, 10);
    if (end == buf) return make_error("read " + key.str() + ": not a number: " + buf);
    return static_cast<int>(v);
  }

  Status write(const SysctlKey& key, int value) override {
    const std::string path = root_ + "/" + key.path();
    const std::string ctx = "set " + key.str() + "=" + std::to_string(value);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno_error(errno, ctx);
    const std::string text = std::to_string(value) + "\n";
    ssize_t n;
    do {
      n = ::write(fd, text.data(), text.size());
    } while (n < 0 && errno == EINTR);
    const int e = errno;
    ::close(fd);
    if (n < 0) return errno_error(e, ctx);
    return {};
  }

 private:
  std::string root_;
};

}  // namespace

std::unique_ptr<SysctlStore> make_proc_sysctl_store(std::string root) {
  return std::make_unique<ProcSysctlStore>(std::move(root));
}

}  // namespace rsagent::net
