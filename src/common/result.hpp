// Result<T>: a value or an Error, the data plane's replacement for exceptions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pgb {

// An error the way PostgreSQL reports one: a SQLSTATE plus a human-readable message.
// `sqlstate` is what a client sees in its ErrorResponse; `detail` is optional extra text.
struct Error {
  std::string sqlstate;
  std::string message;
  std::string detail;
};

inline Error make_error(std::string_view sqlstate, std::string message, std::string detail = {}) {
  return Error{std::string(sqlstate), std::move(message), std::move(detail)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// For operations that produce nothing but can fail.
struct Ok {};
using Status = Result<Ok>;

}  // namespace pgb
