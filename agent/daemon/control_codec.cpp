#include "rsagent/daemon/control_codec.hpp"

#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

namespace rsagent::daemon {

namespace {

using nlohmann::json;

// Without exceptions: a line that is not JSON is "discarded", never a throw.
json parse_line(std::string_view line) {
  return json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
}

// Cannot throw: every string in `j` is valid UTF-8 by construction, and
// `replace` turns anything that is not into U+FFFD rather than throwing.
std::string dump_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string kind(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

bool command_word(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  for (const char c : s)
    if (!((c >= 'a' && c <= 'z') || c == '-')) return false;
  return true;
}

}  // namespace

std::string clean_reason(std::string_view reason) {
  return text::cut(text::printable(reason), kMaxReasonBytes);
}

Result<ControlRequest> decode_control_request(std::string_view line) {
  if (line.size() > kMaxRequestLine)
    return make_error("request longer than " + std::to_string(kMaxRequestLine) + " bytes");
  const json j = parse_line(line);
  if (j.is_discarded()) return make_error("not a JSON object on one line");
  if (!j.is_object()) return make_error("expected a JSON object, found " + kind(j));
  ControlRequest req;
  const auto cmd = j.find("cmd");
  if (cmd == j.end()) return make_error("no \"cmd\"");
  if (!cmd->is_string()) return make_error("\"cmd\" must be a string, found " + kind(*cmd));
  req.cmd = cmd->get<std::string>();
  if (!command_word(req.cmd)) return make_error("\"cmd\" is not a command word");
  if (const auto r = j.find("reason"); r != j.end()) {
    if (!r->is_string()) return make_error("\"reason\" must be a string, found " + kind(*r));
    req.reason = clean_reason(r->get<std::string>());
  }
  if (const auto n = j.find("now"); n != j.end()) {
    if (!n->is_boolean()) return make_error("\"now\" must be true or false, found " + kind(*n));
    req.now = n->get<bool>();
  }
  if (const auto f = j.find("force"); f != j.end()) {
    if (!f->is_boolean()) return make_error("\"force\" must be true or false, found " + kind(*f));
    req.force = f->get<bool>();
  }
  return req;
}

int answer_timeout_ms(std::string_view cmd) {
  if (cmd == "reload") return kReloadAnswerMs;
  if (cmd == "drain" || cmd == "maint") return kSlotAnswerMs;
  return kControlAnswerMs;
}

std::string encode_control_request(const ControlRequest& req) {
  return dump_line(json{
      {"cmd", text::printable(req.cmd)}, {"reason", clean_reason(req.reason)}, {"now", req.now},
                         {"force", req.force}});
}

std::string encode_control_reply(const ControlReply& reply) {
  return dump_line(json{{"ok", reply.ok},
                        {"message", text::printable(reply.message, /*keep_newlines=*/true)},
                        {"code", reply.code},
                        {"boot", reply.boot}});
}

Result<ControlReply> decode_control_reply(std::string_view line) {
  const json j = parse_line(line);
  if (j.is_discarded() || !j.is_object()) return make_error("not a JSON object");
  ControlReply r;
  const auto ok = j.find("ok");
  const auto msg = j.find("message");
  if (ok == j.end() || !ok->is_boolean()) return make_error("no \"ok\" true or false");
  if (msg == j.end() || !msg->is_string()) return make_error("no \"message\" string");
  r.ok = ok->get<bool>();
  r.message = text::printable(msg->get<std::string>(), /*keep_newlines=*/true);
  if (const auto c = j.find("code"); c != j.end()) {
    if (!c->is_number_integer() || c->get<std::int64_t>() < 0 || c->get<std::int64_t>() > 255)
      return make_error("\"code\" must be an exit code 0-255");
    r.code = static_cast<int>(c->get<std::int64_t>());
  }
  if (const auto b = j.find("boot"); b != j.end()) {
    if (!b->is_number_unsigned()) return make_error("\"boot\" must be an unsigned integer");
    r.boot = b->get<std::uint64_t>();
  }
  return r;
}

}  // namespace rsagent::daemon
