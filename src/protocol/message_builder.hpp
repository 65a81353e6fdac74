// Encodes protocol messages into a byte string: type byte, int32 length, then fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pgb::protocol {

class MessageBuilder {
 public:
  // Starts a typed message; type 0 starts an untyped one (startup-phase packets).
  MessageBuilder& begin(char type);
  MessageBuilder& int32(std::int32_t v);
  MessageBuilder& int16(std::int16_t v);
  MessageBuilder& byte(char v);
  MessageBuilder& cstr(std::string_view s);  // appends s and a terminating NUL
  MessageBuilder& bytes(std::string_view s);
  // Writes the length of the message started last; returns *this to chain the next one.
  MessageBuilder& end();

  const std::string& data() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::size_t start_ = 0;  // offset of the length field of the open message
};

}  // namespace pgb::protocol
