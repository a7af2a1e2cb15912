// The part of the health endpoint that needs cpp-httplib, in a module that
// only the daemon loads: rsagent-http.so. Debian's libcpp-httplib brings
// OpenSSL, brotli, zlib and libm along; loading them cost every `rsagent
// start`, `stop`, `status` and `drain` about 1.3 ms, a tenth of a one-VIP
// start+stop. Owns: the loaded module, never unloaded. Threads:
// load_http_module() runs once, on any thread (the daemon runs it beside its
// start-up); http_module() may be read from any thread. Errors: a module
// that is missing, does not load or comes from another rsagent version is
// an error naming the file and the fix.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/health/board.hpp"
#include "rsagent/health/http_loop.hpp"
#include "rsagent/health/state.hpp"
#include "rsagent/util/result.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace rsagent::health {

// The HTTP endpoint as the daemon drives it.
class HttpEndpoint {
 public:
  virtual ~HttpEndpoint() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
  // /livez answers 200 only while the daemon's main loop keeps calling this.
  virtual void heartbeat() = 0;
};

// Changes whenever HttpModule or a type it passes changes layout.
inline constexpr std::uint32_t kHttpModuleAbi = 1;

struct HttpModule {
  std::uint32_t abi;
  const char* version;  // RSAGENT_VERSION it was built with
  // The endpoint on `loop`'s sockets, which the daemon bound before it
  // changed anything.
  std::unique_ptr<HttpEndpoint> (*make_endpoint)(const config::Health& cfg, Board& board,
                                                 std::unique_ptr<HttpLoop> loop);
  ProbeResult (*probe_http)(const config::Check& check);
};

inline constexpr const char* kHttpModuleFile = "rsagent-http.so";
inline constexpr const char* kHttpModuleEntry = "rsagent_http_module";

// The module's file: next to `self_exe`, the running executable (a build
// tree), else in the installed module folder. Cheap: the daemon asks before
// it changes anything, so that a missing module changes nothing.
[[nodiscard]] Result<std::string> find_http_module(const std::string& self_exe);
// Loads the module at `path`; the daemon calls it once, on one thread.
[[nodiscard]] Result<const HttpModule*> load_http_module(const std::string& path);
// The loaded module, or nullptr before load_http_module() succeeded.
[[nodiscard]] const HttpModule* http_module();

}  // namespace rsagent::health
