// agent/util/openssl_init.cpp: inside the HTTP module loader's switch a call
// to OPENSSL_init_ssl does nothing; outside it the call reaches libssl and
// TLS works. Built into its own executable with the definition the rsagent
// binary carries; and the rsagent binary's commands start without
// cpp-httplib or OpenSSL (only the daemon loads them, with its module).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

extern "C" unsigned rsagent_openssl_init_skipped();
extern "C" void rsagent_openssl_init_skip(bool skip);

namespace {

const char* ssl_reason() { return ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_NO_CIPHERS_AVAILABLE)); }

std::string run(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), &::pclose);
  std::string out;
  if (!p) return out;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  return out;
}

}  // namespace

// The order matters: once libssl has run, its strings stay loaded.
TEST_CASE("while the loader's switch is on, OPENSSL_init_ssl is skipped") {
  const unsigned before = rsagent_openssl_init_skipped();
  rsagent_openssl_init_skip(true);
  CHECK(OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr) == 1);
  rsagent_openssl_init_skip(false);
  CHECK(rsagent_openssl_init_skipped() == before + 1);
  CHECK(ssl_reason() == nullptr);  // libssl never loaded its strings
}

TEST_CASE("with the switch off, OPENSSL_init_ssl reaches libssl and TLS works") {
  REQUIRE(OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr) == 1);
  REQUIRE(ssl_reason() != nullptr);
  CHECK(std::string(ssl_reason()) == "no ciphers available");
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), &SSL_CTX_free);
  CHECK(ctx != nullptr);
}

TEST_CASE("rsagent's commands start without cpp-httplib, OpenSSL, brotli or zlib") {
  const std::string files = run(std::string("LD_DEBUG=files ") + RSAGENT_BIN + " version 2>&1");
  REQUIRE(files.find("libnl-route-3") != std::string::npos);  // LD_DEBUG worked
  for (const char* lib : {"libcpp-httplib", "libssl", "libcrypto", "libbrotli", "libz."}) {
    INFO(lib);
    CHECK(files.find(lib) == std::string::npos);
  }
}
