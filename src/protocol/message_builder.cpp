// Big-endian encoding of protocol fields.
#include "protocol/message_builder.hpp"

namespace pgb::protocol {

MessageBuilder& MessageBuilder::begin(char type) {
  if (type != 0) out_.push_back(type);
  start_ = out_.size();
  out_.append(4, '\0');
  return *this;
}

MessageBuilder& MessageBuilder::int32(std::int32_t v) {
  auto u = static_cast<std::uint32_t>(v);
  char b[4] = {static_cast<char>(u >> 24), static_cast<char>(u >> 16), static_cast<char>(u >> 8),
               static_cast<char>(u)};
  out_.append(b, 4);
  return *this;
}

MessageBuilder& MessageBuilder::int16(std::int16_t v) {
  auto u = static_cast<std::uint16_t>(v);
  char b[2] = {static_cast<char>(u >> 8), static_cast<char>(u)};
  out_.append(b, 2);
  return *this;
}

MessageBuilder& MessageBuilder::byte(char v) {
  out_.push_back(v);
  return *this;
}

MessageBuilder& MessageBuilder::cstr(std::string_view s) {
  out_.append(s);
  out_.push_back('\0');
  return *this;
}

MessageBuilder& MessageBuilder::bytes(std::string_view s) {
  out_.append(s);
  return *this;
}

MessageBuilder& MessageBuilder::end() {
  auto len = static_cast<std::uint32_t>(out_.size() - start_);
  out_[start_] = static_cast<char>(len >> 24);
  out_[start_ + 1] = static_cast<char>(len >> 16);
  out_[start_ + 2] = static_cast<char>(len >> 8);
  out_[start_ + 3] = static_cast<char>(len);
  return *this;
}

}  // namespace pgb::protocol
