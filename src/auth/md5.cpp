// MD5 password hashing as in PostgreSQL's src/common/md5_common.c (pg_md5_encrypt).
#include "auth/md5.hpp"

#include "auth/crypto.hpp"

namespace pgb::auth {

std::string md5_password_hash(std::string_view password, std::string_view user) {
  std::string input(password);
  input.append(user);
  return "md5" + md5_hex(input);
}

std::string md5_salted_response(std::string_view stored_hash, std::string_view salt) {
  std::string input(stored_hash.substr(3));
  input.append(salt);
  return "md5" + md5_hex(input);
}

bool is_md5_hash(std::string_view secret) {
  if (secret.size() != 35 || !secret.starts_with("md5")) return false;
  for (char c : secret.substr(3)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace pgb::auth
