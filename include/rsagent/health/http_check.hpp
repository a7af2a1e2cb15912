// The http and https checks of the local service, through cpp-httplib's
// public client API (httplib::Client, httplib::SSLClient). Only the daemon
// binary (rsagentd) links it: the CLI starts without cpp-httplib and
// OpenSSL. Threads: called from a check's monitor thread; no shared state.
// Errors: a failed probe is a ProbeResult with ok=false and a reason an
// operator can act on; nothing throws.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/health/state.hpp"

namespace rsagent::health {

// GET ck.url within ck.timeout: ok when the status is in ck.expect (200-399
// when empty) and the body holds ck.contains. https: the certificate is
// checked against the system CAs and the name in ck.host (else the
// address), unless ck.tls_verify is false; ck.host is also the SNI name.
[[nodiscard]] ProbeResult probe_http(const config::Check& ck);

}  // namespace rsagent::health
