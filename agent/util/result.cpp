#include "rsagent/util/result.hpp"

#include <cstring>

namespace rsagent {

std::string Error::str() const {
  std::string out;
  for (const auto& c : context) {
    out += c;
    out += ": ";
  }
  if (!message.empty()) out += message;
  if (err != 0) {
    const char* sys = std::strerror(err);
    // The kernel's ext-ack text already says what errno would; avoid "x: x".
    if (message.empty()) {
      out += sys;
    } else if (message.find(sys) == std::string::npos) {
      out += " (";
      out += sys;
      out += ")";
    }
  }
  return out;
}

Error make_error(std::string message) { return Error{0, std::move(message), {}}; }

Error errno_error(int err, std::string message) { return Error{err, std::move(message), {}}; }

}  // namespace rsagent
