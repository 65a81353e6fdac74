// Bounds-checked reading of protocol fields from a payload; every read reports failure
// instead of running past the end, so truncated input can never be over-read.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace pgb::protocol {

inline std::uint32_t load_u32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  std::optional<std::int32_t> int32() {
    if (data_.size() - pos_ < 4) return std::nullopt;
    auto v = static_cast<std::int32_t>(load_u32(data_.data() + pos_));
    pos_ += 4;
    return v;
  }
  std::optional<std::int16_t> int16() {
    if (data_.size() - pos_ < 2) return std::nullopt;
    auto b = reinterpret_cast<const unsigned char*>(data_.data() + pos_);
    pos_ += 2;
    return static_cast<std::int16_t>((b[0] << 8) | b[1]);
  }
  std::optional<char> byte() {
    if (pos_ >= data_.size()) return std::nullopt;
    return data_[pos_++];
  }
  // A NUL-terminated string; fails when no terminator is left.
  std::optional<std::string_view> cstr() {
    auto nul = data_.find('\0', pos_);
    if (nul == std::string_view::npos) return std::nullopt;
    auto s = data_.substr(pos_, nul - pos_);
    pos_ = nul + 1;
    return s;
  }
  std::optional<std::string_view> bytes(std::size_t n) {
    if (data_.size() - pos_ < n) return std::nullopt;
    auto s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view rest() {
    auto s = data_.substr(pos_);
    pos_ = data_.size();
    return s;
  }
  bool at_end() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

}  // namespace pgb::protocol
