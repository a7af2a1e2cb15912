#include "rsagent/verdict/state.hpp"

#include "rsagent/util/text.hpp"

namespace rsagent::verdict {

CheckView advance(CheckView v, const ProbeResult& r, Clock::time_point at) {
  ++v.probes;
  v.has_result = true;
  v.last = r;
  v.last_at = at;
  if (r.ok) {
    ++v.consecutive_ok;
    v.consecutive_fail = 0;
    if (!v.up && v.consecutive_ok >= v.rise) {
      v.up = true;
      ++v.transitions;
    }
  } else {
    ++v.failures;
    ++v.consecutive_fail;
    v.consecutive_ok = 0;
    if (v.up && v.consecutive_fail >= v.fall) {
      v.up = false;
      ++v.transitions;
    }
  }
  return v;
}

const char* admin_name(Admin a) {
  switch (a) {
    case Admin::kReady: return "ready";
    case Admin::kDrain: return "drain";
    case Admin::kMaint: return "maint";
  }
  return "?";
}

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kReady: return "ready";
    case Mode::kDrain: return "drain";
    case Mode::kMaint: return "maint";
    case Mode::kDown: return "down";
  }
  return "?";
}

std::string Verdict::body() const { return std::string(mode_name(mode)) + "\n"; }

std::string Verdict::agent_line() const {
  switch (mode) {
    case Mode::kReady: return "up ready\n";
    case Mode::kDrain: return "up drain\n";
    case Mode::kMaint: return "maint\n";
    case Mode::kDown: {
      // HAProxy reads the text after '#' as the reason; keep it one short line.
      return "down #" + text::one_line(reason, 200) + "\n";
    }
  }
  return "down\n";
}

Verdict decide(const std::vector<CheckView>& checks, const NetHealth& net, const OperatorState& op,
               bool maintenance_file, const std::string& maintenance_path) {
  if (maintenance_file) return {Mode::kMaint, "maintenance file " + maintenance_path + " exists"};
  if (op.admin == Admin::kMaint)
    return {Mode::kMaint, "operator set maintenance" + (op.reason.empty() ? "" : ": " + op.reason)};
  if (!net.known) return {Mode::kDown, "network state not observed yet"};
  if (!net.ok) return {Mode::kDown, net.reason};
  for (const auto& c : checks) {
    if (c.up) continue;
    if (!c.has_result) return {Mode::kDown, "check " + c.name + ": no result yet"};
    std::string why = "check " + c.name + " is down";
    if (!c.last.ok && !c.last.detail.empty()) why += ": " + c.last.detail;
    if (c.last.ok) why += " (rising: " + std::to_string(c.consecutive_ok) + "/" + std::to_string(c.rise) + ")";
    return {Mode::kDown, why};
  }
  if (op.admin == Admin::kDrain)
    return {Mode::kDrain, "operator drained this node" + (op.reason.empty() ? "" : ": " + op.reason)};
  return {Mode::kReady, ""};
}

}  // namespace rsagent::verdict
