// Encoders and decoders for the messages pgbalancer originates or inspects.
#include "protocol/messages.hpp"

#include "common/sqlstate.hpp"
#include "protocol/byte_reader.hpp"
#include "protocol/message_builder.hpp"

namespace pgb::protocol {

std::string error_response(const Error& error, std::string_view severity) {
  MessageBuilder b;
  b.begin('E')
      .byte('S')
      .cstr(severity)
      .byte('V')
      .cstr(severity)
      .byte('C')
      .cstr(error.sqlstate.empty() ? sqlstate::kInternalError : error.sqlstate)
      .byte('M')
      .cstr(error.message);
  if (!error.detail.empty()) b.byte('D').cstr(error.detail);
  b.byte('\0').end();
  return b.take();
}

std::string authentication(AuthRequest request, std::string_view data) {
  return MessageBuilder()
      .begin('R')
      .int32(static_cast<std::int32_t>(request))
      .bytes(data)
      .end()
      .take();
}

std::string parameter_status(std::string_view name, std::string_view value) {
  return MessageBuilder().begin('S').cstr(name).cstr(value).end().take();
}

std::string backend_key_data(std::int32_t process_id, std::int32_t secret_key) {
  return MessageBuilder().begin('K').int32(process_id).int32(secret_key).end().take();
}

std::string ready_for_query(char status) {
  return MessageBuilder().begin('Z').byte(status).end().take();
}

std::string negotiate_protocol_version(std::uint16_t newest_minor,
                                       const std::vector<std::string>& options) {
  MessageBuilder b;
  b.begin('v').int32(newest_minor).int32(static_cast<std::int32_t>(options.size()));
  for (const auto& o : options) b.cstr(o);
  return b.end().take();
}

std::string row_description(const std::vector<ColumnDescription>& columns) {
  MessageBuilder b;
  b.begin('T').int16(static_cast<std::int16_t>(columns.size()));
  for (const auto& c : columns) {
    // No table (0, 0); size -1 (variable) except int8's 8; no type modifier; text format.
    b.cstr(c.name).int32(0).int16(0).int32(c.type_oid);
    b.int16(c.type_oid == kInt8Oid ? 8 : -1).int32(-1).int16(0);
  }
  return b.end().take();
}

std::string data_row(const std::vector<std::optional<std::string>>& values) {
  MessageBuilder b;
  b.begin('D').int16(static_cast<std::int16_t>(values.size()));
  for (const auto& v : values) {
    if (!v) {
      b.int32(-1);
      continue;
    }
    b.int32(static_cast<std::int32_t>(v->size())).bytes(*v);
  }
  return b.end().take();
}

std::string command_complete(std::string_view tag) {
  return MessageBuilder().begin('C').cstr(tag).end().take();
}

std::string empty_query_response() {
  return MessageBuilder().begin('I').end().take();
}

std::string startup_message(const Parameters& params) {
  MessageBuilder b;
  b.begin(0).int32(static_cast<std::int32_t>(kProtocolV3));
  for (const auto& [k, v] : params) b.cstr(k).cstr(v);
  return b.byte('\0').end().take();
}

std::string ssl_request() {
  return MessageBuilder().begin(0).int32(static_cast<std::int32_t>(kSslRequestCode)).end().take();
}

std::string cancel_request(std::int32_t process_id, std::int32_t secret_key) {
  return MessageBuilder()
      .begin(0)
      .int32(static_cast<std::int32_t>(kCancelRequestCode))
      .int32(process_id)
      .int32(secret_key)
      .end()
      .take();
}

std::string password_message(std::string_view password) {
  return MessageBuilder().begin('p').cstr(password).end().take();
}

std::string sasl_initial_response(std::string_view mechanism, std::string_view data) {
  return MessageBuilder()
      .begin('p')
      .cstr(mechanism)
      .int32(static_cast<std::int32_t>(data.size()))
      .bytes(data)
      .end()
      .take();
}

std::string sasl_response(std::string_view data) {
  return MessageBuilder().begin('p').bytes(data).end().take();
}

std::string query(std::string_view sql) {
  return MessageBuilder().begin('Q').cstr(sql).end().take();
}

std::string terminate() {
  return MessageBuilder().begin('X').end().take();
}

std::string extended_query(std::string_view sql, const std::vector<std::string>& params) {
  MessageBuilder b;
  b.begin('P').cstr("").cstr(sql).int16(0).end();
  b.begin('B').cstr("").cstr("").int16(0).int16(static_cast<std::int16_t>(params.size()));
  for (const auto& p : params) b.int32(static_cast<std::int32_t>(p.size())).bytes(p);
  b.int16(0).end();
  b.begin('E').cstr("").int32(0).end();
  b.begin('S').end();
  return b.take();
}

std::optional<ErrorFields> parse_error_response(std::string_view payload) {
  ByteReader r(payload);
  ErrorFields out;
  std::string localized_severity;
  for (;;) {
    auto code = r.byte();
    if (!code) return std::nullopt;
    if (*code == '\0') break;
    auto value = r.cstr();
    if (!value) return std::nullopt;
    switch (*code) {
      case 'S': localized_severity = *value; break;
      case 'V': out.severity = *value; break;
      case 'C': out.error.sqlstate = *value; break;
      case 'M': out.error.message = *value; break;
      case 'D': out.error.detail = *value; break;
      default: break;
    }
  }
  if (out.severity.empty()) out.severity = localized_severity;
  return out;
}

std::optional<AuthMessage> parse_authentication(std::string_view payload) {
  ByteReader r(payload);
  auto code = r.int32();
  if (!code) return std::nullopt;
  return AuthMessage{static_cast<AuthRequest>(*code), r.rest()};
}

std::optional<std::pair<std::string_view, std::string_view>> parse_parameter_status(
    std::string_view payload) {
  ByteReader r(payload);
  auto name = r.cstr();
  auto value = r.cstr();
  if (!name || !value || !r.at_end()) return std::nullopt;
  return std::pair{*name, *value};
}

std::optional<std::pair<std::int32_t, std::int32_t>> parse_backend_key_data(
    std::string_view payload) {
  ByteReader r(payload);
  auto pid = r.int32();
  auto key = r.int32();
  if (!pid || !key || !r.at_end()) return std::nullopt;
  return std::pair{*pid, *key};
}

std::optional<SaslInitial> parse_sasl_initial_response(std::string_view payload) {
  ByteReader r(payload);
  auto mechanism = r.cstr();
  auto len = r.int32();
  if (!mechanism || !len) return std::nullopt;
  if (*len == -1)
    return r.at_end() ? std::optional<SaslInitial>(SaslInitial{*mechanism, {}}) : std::nullopt;
  if (*len < 0) return std::nullopt;
  auto data = r.bytes(static_cast<std::size_t>(*len));
  if (!data || !r.at_end()) return std::nullopt;
  return SaslInitial{*mechanism, *data};
}

std::optional<std::vector<std::optional<std::string_view>>> parse_data_row(
    std::string_view payload) {
  ByteReader r(payload);
  auto count = r.int16();
  if (!count || *count < 0) return std::nullopt;
  std::vector<std::optional<std::string_view>> columns;
  for (int i = 0; i < *count; ++i) {
    auto len = r.int32();
    if (!len) return std::nullopt;
    if (*len == -1) {
      columns.emplace_back(std::nullopt);
      continue;
    }
    if (*len < 0) return std::nullopt;
    auto value = r.bytes(static_cast<std::size_t>(*len));
    if (!value) return std::nullopt;
    columns.emplace_back(*value);
  }
  if (!r.at_end()) return std::nullopt;
  return columns;
}

std::optional<std::string_view> parse_password_message(std::string_view payload) {
  ByteReader r(payload);
  auto s = r.cstr();
  if (!s || !r.at_end()) return std::nullopt;
  return s;
}

}  // namespace pgb::protocol
