// libFuzzer target: the control socket's line handling. The first half of
// the input is a request line as a peer sends it; the whole input is also
// used as a reply message, as the daemon answers with whatever text a
// failed reload or an operator's reason contains. Nothing may throw; a
// decoded request survives encode and decode; a reply is one line that
// decodes to its message made printable.
#include "fuzz_support.hpp"
#include "rsagent/daemon/control_codec.hpp"
#include "rsagent/util/text.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace rsagent::daemon;

namespace {

std::string_view strip_newline(std::string_view line) {
  FUZZ_CHECK(!line.empty() && line.back() == '\n', "an encoded line does not end in '\\n'");
  line.remove_suffix(1);
  FUZZ_CHECK(line.find('\n') == std::string_view::npos, "an encoded line holds a newline");
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto req = decode_control_request(in);
  if (req) {
    FUZZ_CHECK(rsagent::fuzz::is_printable(req->reason), "a decoded reason is not printable");
    FUZZ_CHECK(req->reason.size() <= kMaxReasonBytes, "a decoded reason is too long");
    const std::string line = encode_control_request(*req);
    FUZZ_CHECK(line.size() <= kMaxRequestLine + 1,
               "an encoded request is longer than a line may be");
    const auto back = decode_control_request(strip_newline(line));
    FUZZ_CHECK(back.ok() && *back == *req, "a request changes through encode and decode");
  } else {
    FUZZ_CHECK(rsagent::fuzz::is_printable(req.error().str()), req.error().str());
  }
  // What the CLI sends for any --reason: always a request the daemon decodes.
  const ControlRequest drain{"drain", std::string(in), false};
  const auto sent = decode_control_request(strip_newline(encode_control_request(drain)));
  FUZZ_CHECK(sent.ok(), "the CLI's request for a reason does not decode: " + sent.error().str());
  FUZZ_CHECK(sent->reason == clean_reason(in), "the reason changes on the way");

  const ControlReply reply{size % 2 == 0, std::string(in), static_cast<int>(size % 256), size};
  const auto got = decode_control_reply(strip_newline(encode_control_reply(reply)));
  FUZZ_CHECK(got.ok(), "a reply does not decode: " + got.error().str());
  FUZZ_CHECK(got->ok == reply.ok && got->code == reply.code && got->boot == reply.boot,
             "reply fields");
  FUZZ_CHECK(got->message == rsagent::text::printable(in, true),
             "a reply message changes on the way");
  // A reply from a daemon is input to the CLI too.
  const auto any = decode_control_reply(in);
  if (any)
    FUZZ_CHECK(rsagent::fuzz::is_printable(any->message, true),
               "a decoded message is not printable");
  return 0;
}
