// What an operator types (issue 12, item 5) and a journal garbled after a
// crash (item 2), against the real daemon in a namespace: a bad reload, a
// reason that is not UTF-8 or too long, a malformed control line, a journal
// with numbers out of range. The daemon must keep running and keep the
// namespace as it was; stop must change nothing when it cannot trust the
// journal. Assertions are on exit codes, state and files.
#include "../support/netns.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

const char* const kConfig = R"({"vips": ["198.51.100.100", "2001:db8::100"]})";

void start_node(const AgentNode& n) {
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool printable_utf8(const std::string& s) {
  // No byte that is not part of valid UTF-8, no control character.
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80                   ? 1
                    : (c >= 0xc2 && c <= 0xdf) ? 2
                    : (c >= 0xe0 && c <= 0xef) ? 3
                    : (c >= 0xf0 && c <= 0xf4) ? 4
                                               : 0;
    if (n == 0 || i + n > s.size() || (n == 1 && (c < 0x20 && c != '\n'))) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += n;
  }
  return true;
}

// Sends one raw line to the daemon's control socket and returns its answer
// line ("" when none came).
std::string control_raw(const AgentNode& n, const std::string& bytes) {
  const std::string path = n.state_dir() + "/control.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (w <= 0) break;  // the daemon may answer and close before reading it all
    done += static_cast<std::size_t>(w);
  }
  ::shutdown(fd, SHUT_WR);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  ssize_t r;
  while ((r = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(r));
  ::close(fd);
  return out;
}

}  // namespace

TEST_CASE(
    "a reload with a stray byte, smart quotes or a misplaced BOM is refused with the byte escaped, "
    "and the daemon runs on") {
  AgentNode n(kConfig);
  start_node(n);
  const std::string running = n.ns.snapshot();
  const int pid = n.daemon_pid();
  struct Case {
    const char* what;
    std::string config;
    std::string words;
  };
  const std::vector<Case> cases{
      {"\\xff", "{\"vips\": [\"198.51.100.100\", \"2001:db8::100\"]}\xff\n",
       "found the byte \\xff after the end of the document; it is not UTF-8"},
      {"smart quotes",
       "{\"vips\": [\xe2\x80\x9c"
       "198.51.100.1\xe2\x80\x9d]}\n",
       "typographic quote '\xe2\x80\x9c'; JSON strings need straight double quotes"},
      {"BOM after the start", "{\"vips\": \xef\xbb\xbf[\"198.51.100.1\"]}\n",
       "byte order mark (U+FEFF)"},
      {"\\xff in a key", "{\"vips\": [], \"\xff\": 1}\n", "invalid UTF-8 in a string"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    n.write_config(c.config);
    const auto r = n.rsagent("reload");
    CAPTURE(r.out);
    CHECK(r.code == 6);
    CHECK(r.out.find(c.words) != std::string::npos);
    CHECK(printable_utf8(r.out));
    CHECK(n.rsagent("status").code == 0);
    CHECK(n.daemon_pid() == pid);
    CHECK(n.ns.snapshot() == running);
  }
  // A BOM at the very start is no error: that reload applies.
  n.write_config(
      "\xef\xbb\xbf{\"vips\": [\"198.51.100.100\", \"2001:db8::100\", \"198.51.100.101\"]}\n");
  const auto r = n.rsagent("reload");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(has_addr(n.ns.addresses(), "198.51.100.101", 32));
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE(
    "a reason that is not UTF-8, or 3000 'é', is kept cleaned and cut, and neither the CLI nor the "
    "daemon ends") {
  AgentNode n(kConfig);
  start_node(n);
  const std::string running = n.ns.snapshot();
  const int pid = n.daemon_pid();
  const std::string op_file = n.state_dir() + "/persistent/operator.json";

  // `rsagent drain --reason $'\xff'` (dash has no $'': printf writes the byte).
  auto r = n.rsagent("drain --reason \"$(printf '\\377')\"");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(read_all(op_file).find("\"reason\":\"\\\\xff\"") != std::string::npos);
  CHECK(n.ns.run("curl -s http://127.0.0.1:9799/healthz").out == "drain\n");

  // `rsagent drain --reason "$(python3 -c 'print("é"*3000)')"`
  std::string e3000;
  for (int i = 0; i < 3000; ++i) e3000 += "\xc3\xa9";
  n.write_file("reason.txt", e3000);
  r = n.rsagent("maint --reason \"$(cat " + n.dir() + "/reason.txt)\"");
  CHECK_MESSAGE(r.code == 0, r.out);
  const std::string saved = read_all(op_file);
  CAPTURE(saved);
  CHECK(saved.find("\"state\":\"maint\"") != std::string::npos);
  const auto from = saved.find("\"reason\":\"") + 10;
  const std::string reason = saved.substr(from, saved.find('"', from) - from);
  CHECK(reason.size() == 256);
  CHECK(printable_utf8(reason));

  // The same without a daemon: recorded for the next start, cleaned the same way.
  CHECK(n.rsagent("ready").code == 0);
  CHECK(n.rsagent("status").code == 0);
  CHECK(n.daemon_pid() == pid);
  CHECK(n.ns.snapshot() == running);
  CHECK(n.rsagent("stop").code == 0);
  r = n.rsagent("drain --reason \"$(printf 'x\\377\\033[2J')\"");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(read_all(op_file).find("\"reason\":\"x\\\\xff\\\\x1b[2J\"") != std::string::npos);
}

TEST_CASE("the control socket answers every line, malformed or not, and the daemon runs on") {
  AgentNode n(kConfig);
  start_node(n);
  const std::string running = n.ns.snapshot();
  const int pid = n.daemon_pid();
  std::string e3000;
  for (int i = 0; i < 3000; ++i) e3000 += "\xc3\xa9";
  const std::vector<std::pair<std::string, std::string>> lines{
      {"\xff\n", "malformed request: not a JSON object on one line"},
      {"\n", "malformed request: not a JSON object on one line"},
      {std::string(100000, '[') + "\n", "malformed request: longer than 4096 bytes"},
      // What an older CLI sent for 3000 "é": a line past the limit.
      {"{\"cmd\":\"drain\",\"now\":false,\"reason\":\"" + e3000 + "\"}\n",
       "malformed request: longer than 4096 bytes"},
      {"{\"cmd\":\"drain\",\"reason\":\"\\ud800\"}\n", "malformed request: not a JSON object"},
      {"{\"cmd\":7}\n", "\\\"cmd\\\" must be a string"},
      {"{\"cmd\":\"frobnicate\"}\n", "unknown command \\\"frobnicate\\\""},
  };
  for (const auto& l : lines) {
    const std::string& line = l.first;  // not a structured binding: CAPTURE is a lambda
    const std::string& words = l.second;
    CAPTURE(line.substr(0, 60));
    const std::string answer = control_raw(n, line);
    CAPTURE(answer);
    CHECK(answer.rfind("{", 0) == 0);
    CHECK(answer.find("\"ok\":false") != std::string::npos);
    CHECK(answer.find(words) != std::string::npos);
    CHECK(printable_utf8(answer));
    CHECK(n.rsagent("status").code == 0);
  }
  CHECK(n.daemon_pid() == pid);
  CHECK(n.ns.snapshot() == running);
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE(
    "stop with a journal out of range after a crash exits 1 saying what is wrong, changes nothing "
    "and keeps the file") {
  AgentNode n(R"({"vips": ["198.51.100.100"]})");
  const std::string route =
      R"({"type":"route","dst":"198.51.100.100","table":254,"metric":0,"created":true)";
  const std::vector<std::pair<std::string, std::string>> journals{
      {"{\"version\":1,\"entries\":{}}\n", "\"entries\" must be an array"},
      {"{\"version\":1,\"entries\":[" + route + ",\"prefix\":999}]}\n",
       "entry 1: \"prefix\" must be an integer 0-32 for 198.51.100.100, found 999"},
      {"{\"version\":1,\"entries\":[{\"type\":\"sysctl\",\"iface\":\"all\",\"name\":\"arp_ignore\","
       "\"original\":28222222222222222222,\"wrote\":1}]}\n",
       "entry 1: \"original\" must be an integer -2147483648-2147483647"},
      {"{\"version\":1,\"entries\":[{\"type\":\"sysctl\",\"iface\":\"../../../"
       "kernel\",\"name\":\"core_pattern\","
       "\"original\":0,\"wrote\":1}]}\n",
       "entry 1: \"iface\" is not an interface name"},
  };
  start_node(n);
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  // A crash: the daemon is gone, its journal and changes stay.
  REQUIRE(::kill(pid, SIGKILL) == 0);
  REQUIRE(wait_until([&] { return ::kill(pid, 0) != 0; }, 10s));
  const std::string journal = n.state_dir() + "/journal.json";
  const std::string good = read_all(journal);
  REQUIRE(good.find("198.51.100.100") != std::string::npos);
  const std::string crashed = n.ns.snapshot();
  for (const auto& j : journals) {
    const std::string& text = j.first;  // not a structured binding: CAPTURE is a lambda
    const std::string& words = j.second;
    CAPTURE(text);
    n.write_file("state/journal.json", text);
    const auto r = n.rsagent("stop");
    CAPTURE(r.out);
    CHECK(r.code == 1);
    CHECK(r.out.find("malformed journal " + journal + ": " + words) != std::string::npos);
    CHECK(n.ns.snapshot() == crashed);
    CHECK(read_all(journal) == text);
    CHECK(n.rsagent("start").code != 0);  // start refuses it too: it cannot know what it owns
    CHECK(n.ns.snapshot() == crashed);
  }
  // With the journal as the daemon wrote it, stop reverts.
  n.write_file("state/journal.json", good);
  const auto r = n.rsagent("stop");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK_FALSE(has_addr(n.ns.addresses(), "198.51.100.100", 32));
}
