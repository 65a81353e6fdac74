// PostgreSQL's MD5 password scheme: stored "md5" + md5(password + user), sent salted.
#pragma once

#include <string>
#include <string_view>

namespace pgb::auth {

// The value PostgreSQL stores in pg_authid for an md5 password.
std::string md5_password_hash(std::string_view password, std::string_view user);
// The PasswordMessage a client sends for AuthenticationMD5Password, from the stored hash
// ("md5..." as above) and the 4-byte salt.
std::string md5_salted_response(std::string_view stored_hash, std::string_view salt);
bool is_md5_hash(std::string_view secret);

}  // namespace pgb::auth
