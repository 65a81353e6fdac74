#pragma once
// Secrets kept in files of their own (jwt_secret_file, bctl --jwt-secret-file).
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace pgb {

// The file's content without its final newline (as `echo secret > file` writes it); nullopt if
// it cannot be read.
inline std::optional<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  std::string secret = content.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return secret;
}

}  // namespace pgb
