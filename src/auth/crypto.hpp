// Thin wrappers over OpenSSL's primitives, in the shapes SCRAM and MD5 authentication need.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgb::auth {

using Digest = std::array<unsigned char, 32>;  // SHA-256 output

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);  // nullopt on invalid input

Digest sha256(std::string_view data);
Digest hmac_sha256(std::string_view key, std::string_view data);
Digest pbkdf2_sha256(std::string_view password, std::string_view salt, int iterations);
std::string md5_hex(std::string_view data);

std::string random_bytes(std::size_t n);  // from the OS CSPRNG via OpenSSL
bool constant_time_equal(std::string_view a, std::string_view b);

inline std::string_view as_view(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

}  // namespace pgb::auth
