// Shared by the planning tests: a Config from JSON text (it must be valid),
// and the ObservedState the engine would build from the fakes.
#pragma once

#include "fake_kernel.hpp"
#include "rsagent/config/config.hpp"
#include "rsagent/net/plan.hpp"

#include <doctest/doctest.h>

#include <string>

namespace rsagent::test {

inline config::Config cfg_of(const std::string& text) {
  auto r = config::parse_sources({config::Source{"t.json", text}});
  REQUIRE(r.config);
  return *r.config;
}

inline net::ObservedState observe(FakeKernel& k, FakeSysctls& s, const net::DesiredState& want,
                                  const net::Journal& prior) {
  auto snap = k.observe();
  net::ObservedState st;
  st.links = snap->links;
  st.addresses = snap->addresses;
  st.routes = snap->routes;
  for (const auto& key : net::keys_to_observe(want, prior, st.links))
    if (auto v = s.read(key)) st.sysctls[key] = *v;
  return st;
}

}  // namespace rsagent::test
