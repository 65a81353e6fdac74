// Encoders and decoders for the protocol messages pgbalancer itself must understand or produce.
// Everything else is relayed untouched (see frame_scanner.hpp).
#pragma once

#include "common/result.hpp"
#include "protocol/codes.hpp"
#include "protocol/startup.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgb::protocol {

// ---- backend -> frontend (what pgbalancer sends to clients) ----
// `severity` is ERROR or FATAL; FATAL means the connection closes afterwards.
std::string error_response(const Error& error, std::string_view severity = "FATAL");
std::string authentication(AuthRequest request, std::string_view data = {});
std::string parameter_status(std::string_view name, std::string_view value);
std::string backend_key_data(std::int32_t process_id, std::int32_t secret_key);
std::string ready_for_query(char status);
std::string negotiate_protocol_version(std::uint16_t newest_minor,
                                       const std::vector<std::string>& options);
// Result sets pgbalancer answers itself (the admin console): text-format columns.
struct ColumnDescription {
  std::string name;
  std::int32_t type_oid;  // e.g. kTextOid, kInt8Oid
};
inline constexpr std::int32_t kInt8Oid = 20;
inline constexpr std::int32_t kTextOid = 25;
std::string row_description(const std::vector<ColumnDescription>& columns);
std::string data_row(const std::vector<std::optional<std::string>>& values);
std::string command_complete(std::string_view tag);
std::string empty_query_response();

// ---- frontend -> backend (what pgbalancer sends to PostgreSQL) ----
std::string startup_message(const Parameters& params);
std::string ssl_request();
std::string cancel_request(std::int32_t process_id, std::int32_t secret_key);
std::string password_message(std::string_view password);
std::string sasl_initial_response(std::string_view mechanism, std::string_view data);
std::string sasl_response(std::string_view data);
std::string query(std::string_view sql);
std::string terminate();
// An unnamed extended-protocol statement with text parameters: Parse, Bind, Execute, Sync.
std::string extended_query(std::string_view sql, const std::vector<std::string>& params);

// ---- decoders: `payload` excludes the type byte and the length ----
struct ErrorFields {
  std::string severity;  // non-localized severity (field 'V'), else 'S'
  Error error;
};
std::optional<ErrorFields> parse_error_response(std::string_view payload);

struct AuthMessage {
  AuthRequest request;
  std::string_view data;  // salt (MD5), mechanism list (SASL) or SASL data
};
std::optional<AuthMessage> parse_authentication(std::string_view payload);

std::optional<std::pair<std::string_view, std::string_view>> parse_parameter_status(
    std::string_view payload);
std::optional<std::pair<std::int32_t, std::int32_t>> parse_backend_key_data(
    std::string_view payload);

// A client's SASLInitialResponse: mechanism name and initial data (absent when length is -1).
struct SaslInitial {
  std::string_view mechanism;
  std::string_view data;
};
std::optional<SaslInitial> parse_sasl_initial_response(std::string_view payload);

// A DataRow's columns; nullopt entries are SQL NULLs.
std::optional<std::vector<std::optional<std::string_view>>> parse_data_row(
    std::string_view payload);

// A PasswordMessage payload is one NUL-terminated string.
std::optional<std::string_view> parse_password_message(std::string_view payload);

}  // namespace pgb::protocol
