// agent/util/openssl_init.cpp: the load-time OpenSSL initialisation of
// Debian's libcpp-httplib is skipped, and OpenSSL still works when called
// later. Built into its own executable with the same definition the rsagent
// binary carries, linked like rsagent against cpp-httplib and libssl.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <sys/wait.h>

extern "C" unsigned rsagent_openssl_init_skipped();

TEST_CASE("the OpenSSL initialisation run by libcpp-httplib at load is skipped") {
  CHECK(rsagent_openssl_init_skipped() >= 1);
}

TEST_CASE("a later OpenSSL initialisation reaches libssl and TLS still works") {
  REQUIRE(OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr) == 1);
  // Loaded by libssl's real function only.
  const char* why = ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_NO_CIPHERS_AVAILABLE));
  REQUIRE(why != nullptr);
  CHECK(std::string(why) == "no ciphers available");
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), &SSL_CTX_free);
  CHECK(ctx != nullptr);
}

TEST_CASE("in the rsagent binary, libcpp-httplib's call binds to rsagent's definition") {
  const std::string cmd = std::string("LD_DEBUG=bindings ") + RSAGENT_BIN +
                          " version 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), &::pclose);
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  std::string binding;
  for (std::size_t at = 0; (at = out.find("`OPENSSL_init_ssl'", at)) != std::string::npos; ++at) {
    const auto start = out.rfind('\n', at);
    binding = out.substr(start == std::string::npos ? 0 : start + 1, at - start);
    if (binding.find("libcpp-httplib") != std::string::npos) break;
  }
  INFO("binding: " << binding);
  CHECK(binding.find("libcpp-httplib") != std::string::npos);
  CHECK(binding.find(std::string(" to ") + RSAGENT_BIN + " ") != std::string::npos);
}
