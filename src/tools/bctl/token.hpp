// bctl token: signs the JWTs pgbalancer's REST API accepts, from the same secret.
#pragma once

#include <string>

namespace pgb::bctl {

struct TokenRequest {
  std::string secret;       // --jwt-secret
  std::string secret_file;  // --jwt-secret-file (one of the two)
  std::string role = "viewer";
  std::string ttl = "1h";
  std::string subject;
};

// Prints the token on stdout. Exit status: 0, 1 (the secret is unreadable or too short), 2 (a bad
// --ttl). The secret itself never appears in a message.
int make_token(const TokenRequest& request);

}  // namespace pgb::bctl
