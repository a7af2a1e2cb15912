// Cleaning bytes that come from outside (user agents, request targets,
// check output, operator reasons, config text quoted in a message), where
// they enter, so that a log line, a terminal or a JSON dump never meets a
// control character or invalid UTF-8. Owns: the one
// helper that turns any byte string into printable, valid UTF-8, and a cut at
// a character boundary. Threads: pure functions. Errors: none; nothing here
// throws, and what it returns can always be dumped as JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rsagent::text {

// Valid UTF-8 with no control characters: invalid bytes (a lone \xff, a
// truncated sequence, an overlong form, a UTF-16 surrogate) become the four
// characters `\xff`; control characters (C0, DEL, C1) become `\x0a` etc.,
// except that `keep_newlines` keeps '\n' (multi-line check output).
// Printable characters, including non-ASCII ones, pass unchanged.
[[nodiscard]] std::string printable(std::string_view in, bool keep_newlines = false);

// At most `max_bytes` of `in` (already valid UTF-8), cut at a character
// boundary so that the result is still valid UTF-8.
[[nodiscard]] std::string cut(std::string_view in, std::size_t max_bytes);

// One printable line for a status line, a header, an agent-check answer or
// a log line: line breaks and tabs become one space, runs of spaces one,
// no space at either end; then printable() and, when longer, cut() to
// `max_bytes` (with "..." marking the cut when `ellipsis`).
[[nodiscard]] std::string one_line(std::string_view in, std::size_t max_bytes = std::string::npos,
                                   bool ellipsis = false);

// Whether `in` is valid UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
[[nodiscard]] bool valid_utf8(std::string_view in);

// A Unix time as "2026-12-05 16:44:44 UTC"; "?" for 0 or less (unknown).
[[nodiscard]] std::string utc_time(std::int64_t unix_seconds);

}  // namespace rsagent::text
