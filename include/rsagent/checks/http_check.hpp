// The http and https checks of the local service, through cpp-httplib's
// public client API (httplib::Client, httplib::SSLClient). Only the daemon
// binary (rsagentd) links it: the CLI starts without cpp-httplib and
// OpenSSL. Threads: called from a check's monitor thread; each probe runs a
// short-lived watcher thread of its own that enforces the deadline and the
// cancel (see http_check.cpp); no state is shared between probes. Errors: a
// failed probe is a ProbeResult with ok=false and a reason an operator can
// act on; nothing throws.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/verdict/state.hpp"

namespace rsagent::checks {

// GET ck.url: ok when the status is in ck.expect (200-399 when empty) and
// the body holds ck.contains. The whole probe, from the connect through the
// TLS handshake, the request, the headers and the last body byte, ends
// within ck.timeout however slowly the server sends; it ends at once (as
// "cancelled") when cancel_fd becomes readable. At most ck.max_body bytes of
// the body are read: a longer body is not an error, reading stops there and
// `contains` is looked for in what was read. https: the certificate is
// checked against the system CAs and the name in ck.host (else the
// address), unless ck.tls_verify is false; ck.host is also the SNI name.
[[nodiscard]] verdict::ProbeResult probe_http(const config::Check& ck, int cancel_fd);

}  // namespace rsagent::checks
