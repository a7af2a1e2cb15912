#include "rsagent/health/http_module.hpp"

#include "rsagent/util/fs.hpp"

#include <atomic>
#include <dlfcn.h>
#include <string>
#include <unistd.h>
#include <vector>

// In the rsagent executable only (agent/util/openssl_init.cpp): while set,
// this thread's calls to OPENSSL_init_ssl are skipped. Weak, so that test
// programs without it still link.
extern "C" [[gnu::weak]] void rsagent_openssl_init_skip(bool skip);

namespace rsagent::health {

namespace {

std::atomic<const HttpModule*> g_module{nullptr};

}  // namespace

Result<std::string> find_http_module(const std::string& self_exe) {
  // A build tree keeps the module beside the binary; a package installs it
  // in RSAGENT_MODULE_DIR.
  std::vector<std::string> candidates;
  if (!self_exe.empty()) candidates.push_back(fs::parent_dir(self_exe) + "/" + kHttpModuleFile);
  candidates.push_back(std::string(RSAGENT_MODULE_DIR) + "/" + kHttpModuleFile);
  for (const auto& path : candidates)
    if (::access(path.c_str(), R_OK) == 0) return path;
  std::string looked;
  for (const auto& path : candidates) looked += (looked.empty() ? "" : ", ") + path;
  return make_error("the HTTP module " + std::string(kHttpModuleFile) + " is missing (looked for " + looked +
                    "); reinstall rsagent");
}

Result<const HttpModule*> load_http_module(const std::string& path) {
  if (const HttpModule* m = g_module.load()) return m;
  // Its cpp-httplib initialises OpenSSL as it loads; rsagent never uses
  // TLS (openssl_init.cpp says why that is skipped).
  if (rsagent_openssl_init_skip != nullptr) rsagent_openssl_init_skip(true);
  // Lazy: binding every function of libcrypto and libssl up front cost
  // milliseconds; the version check below catches a mismatched module.
  void* handle = ::dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (rsagent_openssl_init_skip != nullptr) rsagent_openssl_init_skip(false);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return make_error("cannot load the HTTP module " + path + ": " + (why ? why : "unknown error") +
                      "; reinstall rsagent");
  }
  using Entry = const HttpModule* (*)();
  auto entry = reinterpret_cast<Entry>(::dlsym(handle, kHttpModuleEntry));
  const HttpModule* m = entry != nullptr ? entry() : nullptr;
  if (m == nullptr || m->abi != kHttpModuleAbi || std::string(m->version) != RSAGENT_VERSION)
    return make_error(path + " is not the HTTP module of rsagent " RSAGENT_VERSION " (it says " +
                      (m != nullptr ? std::string(m->version) : std::string("nothing")) +
                      "); reinstall rsagent so that the program and its module match");
  g_module.store(m);
  return m;
}

const HttpModule* http_module() { return g_module.load(); }

}  // namespace rsagent::health
