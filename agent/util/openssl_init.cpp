// Keeps Debian's libcpp-httplib from initialising OpenSSL in every rsagent
// process. Owns: one definition of OPENSSL_init_ssl, exported from the
// executable (and only there: see CMakeLists.txt). Threads: none of its own;
// safe from any thread. Errors: a forwarded call returns 0 when libssl's own
// function cannot be found, as OPENSSL_init_ssl does on failure.
//
// Why: Debian builds cpp-httplib with OpenSSL support, and its library has a
// static initialiser that calls OPENSSL_init_ssl() to load every SSL and
// crypto error string. rsagent never speaks TLS (the endpoint is plain HTTP
// and http checks accept only http:// URLs), yet that call cost each
// process about 1.6 ms and the daemon about 1.9 MiB of memory: on every
// `rsagent start`, `stop`, `status` and `drain`, and in every daemon.
//
// How: the executable's definition comes first in the dynamic linker's
// search, so the library's call lands here. Calls made while the shared
// libraries initialise, before the executable's own initialisers run, are
// skipped; any later call goes on to libssl's real function, so TLS, if it
// is ever used, initialises as usual (OpenSSL also initialises itself on
// first use).
#include <atomic>
#include <cstdint>
#include <dlfcn.h>

namespace {

std::atomic<bool> g_executable_started{false};
std::atomic<unsigned> g_skipped{0};

// Runs with the executable's initialisers: after every shared library's.
[[gnu::constructor]] void mark_executable_started() {
  g_executable_started.store(true, std::memory_order_release);
}

}  // namespace

extern "C" {

[[gnu::visibility("default")]] int OPENSSL_init_ssl(std::uint64_t opts, const void* settings) {
  if (!g_executable_started.load(std::memory_order_acquire)) {
    g_skipped.fetch_add(1, std::memory_order_relaxed);
    return 1;
  }
  using Fn = int (*)(std::uint64_t, const void*);
  static const Fn real = [] {
    void* f = ::dlvsym(RTLD_NEXT, "OPENSSL_init_ssl", "OPENSSL_3.0.0");
    if (f == nullptr) f = ::dlsym(RTLD_NEXT, "OPENSSL_init_ssl");
    return reinterpret_cast<Fn>(f);
  }();
  return real != nullptr ? real(opts, settings) : 0;
}

// How many calls were skipped while the libraries initialised (for tests).
[[gnu::visibility("default")]] unsigned rsagent_openssl_init_skipped() {
  return g_skipped.load(std::memory_order_relaxed);
}

}  // extern "C"
