// Result types for everything that touches the kernel or the filesystem.
// Owns: Error (errno, the kernel's extended-ack message if any, and a context
// chain) and Result<T>/Status. No threads; values only. Nothing here throws:
// accessing value() of a failed Result is a programming error (asserted).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace rsagent {

struct Error {
  int err = 0;                       // errno value, 0 when not a system error
  std::string message;               // what went wrong, e.g. the kernel's ext-ack text
  std::vector<std::string> context;  // outermost first after with_context()

  // "apply: add 198.51.100.100/32 dev lo: Operation not permitted"
  [[nodiscard]] std::string str() const;
};

[[nodiscard]] Error make_error(std::string message);
[[nodiscard]] Error errno_error(int err, std::string message = {});

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  [[nodiscard]] const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  // Prepends a context step ("apply", "journal") to a failure; no-op on success.
  Result&& with_context(const std::string& ctx) && {
    if (!ok()) std::get<1>(v_).context.insert(std::get<1>(v_).context.begin(), ctx);
    return std::move(*this);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT

  [[nodiscard]] bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  [[nodiscard]] const Error& error() const {
    assert(failed_);
    return error_;
  }
  Result&& with_context(const std::string& ctx) && {
    if (failed_) error_.context.insert(error_.context.begin(), ctx);
    return std::move(*this);
  }

 private:
  Error error_;
  bool failed_ = false;
};

using Status = Result<void>;

}  // namespace rsagent
