// Keeps Debian's libcpp-httplib from initialising OpenSSL in the daemon.
// Owns: one definition of OPENSSL_init_ssl, exported from the executable
// (and only there: see CMakeLists.txt), and a per-thread "skip" switch.
// Threads: any; the switch affects only the thread that sets it. Errors: a
// forwarded call returns 0 when libssl's own function cannot be found, as
// OPENSSL_init_ssl does on failure.
//
// Why: Debian builds cpp-httplib with OpenSSL support, and its library has a
// static initialiser that calls OPENSSL_init_ssl() to load every SSL and
// crypto error string. rsagent never speaks TLS (the endpoint is plain HTTP
// and http checks accept only http:// URLs), yet that call cost about
// 1.6 ms and 1.9 MiB of the daemon's memory.
//
// How: the executable's definition comes first in the dynamic linker's
// search, so the library's call lands here. The HTTP module's loader
// (agent/health/http_module.cpp) sets the switch around its dlopen(), which
// runs that initialiser; the call is then skipped. Every other call goes on
// to libssl's real function, so TLS, if it is ever used, initialises as
// usual (OpenSSL also initialises itself on first use).
#include <atomic>
#include <cstdint>
#include <dlfcn.h>

namespace {

thread_local bool t_skip = false;
std::atomic<unsigned> g_skipped{0};

}  // namespace

extern "C" {

[[gnu::visibility("default")]] int OPENSSL_init_ssl(std::uint64_t opts, const void* settings) {
  if (t_skip) {
    g_skipped.fetch_add(1, std::memory_order_relaxed);
    return 1;
  }
  using Fn = int (*)(std::uint64_t, const void*);
  static std::atomic<Fn> real{nullptr};
  Fn f = real.load(std::memory_order_acquire);
  if (f == nullptr) {
    // libssl is in the global scope when linked, in the module's own scope
    // when it came with the module (RTLD_LOCAL): ask it by name then.
    void* sym = ::dlvsym(RTLD_NEXT, "OPENSSL_init_ssl", "OPENSSL_3.0.0");
    if (sym == nullptr) {
      if (void* ssl = ::dlopen("libssl.so.3", RTLD_LAZY | RTLD_NOLOAD)) {
        sym = ::dlvsym(ssl, "OPENSSL_init_ssl", "OPENSSL_3.0.0");
        ::dlclose(ssl);  // only drops the reference RTLD_NOLOAD took
      }
    }
    f = reinterpret_cast<Fn>(sym);
    if (f != nullptr) real.store(f, std::memory_order_release);
  }
  return f != nullptr ? f(opts, settings) : 0;
}

void rsagent_openssl_init_skip(bool skip) { t_skip = skip; }

// How many calls were skipped (for tests).
unsigned rsagent_openssl_init_skipped() { return g_skipped.load(std::memory_order_relaxed); }

}  // extern "C"
