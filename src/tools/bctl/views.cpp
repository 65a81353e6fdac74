// JSON answers to tables (see views.hpp).
#include "tools/bctl/views.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>

namespace pgb::bctl {
namespace {

namespace json = boost::json;

std::string shortest(double d) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return ec == std::errc() ? std::string(buf, end) : json::serialize(json::value(d));
}

void flatten(const json::value& value, const std::string& key, Table& table) {
  if (const auto* object = value.if_object(); object && !object->empty()) {
    for (const auto& [name, member] : *object)
      flatten(member, key + "." + std::string(name), table);
  } else if (const auto* array = value.if_array(); array && !array->empty()) {
    for (std::size_t i = 0; i < array->size(); ++i) {
      flatten((*array)[i], key + "[" + std::to_string(i) + "]", table);
    }
  } else {
    table.rows.push_back({Cell{key}, to_cell(value)});
  }
}

}  // namespace

Cell to_cell(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null: return {};
    case json::kind::bool_: return {value.get_bool() ? "true" : "false"};
    case json::kind::int64: return {std::to_string(value.get_int64()), true};
    case json::kind::uint64: return {std::to_string(value.get_uint64()), true};
    case json::kind::double_: return {shortest(value.get_double()), true};
    case json::kind::string: return {std::string(value.get_string())};
    default: return {json::serialize(value)};
  }
}

std::optional<Table> list_table(const json::value& list,
                                std::span<const std::string_view> columns) {
  const auto* array = list.if_array();
  if (!array) return std::nullopt;
  Table table;
  table.headers.assign(columns.begin(), columns.end());
  for (const auto& element : *array) {
    const auto* object = element.if_object();
    if (!object) return std::nullopt;
    for (const auto& [name, ignored] : *object) {
      if (std::find(table.headers.begin(), table.headers.end(), name) == table.headers.end()) {
        table.headers.emplace_back(name);
      }
    }
  }
  for (const auto& element : *array) {
    const auto& object = element.get_object();
    auto& row = table.rows.emplace_back();
    for (const auto& header : table.headers) {
      const auto* member = object.if_contains(header);
      row.push_back(member ? to_cell(*member) : Cell{});
    }
  }
  return table;
}

std::optional<Table> record_table(const json::value& record, std::string_view key_header) {
  if (!record.is_object()) return std::nullopt;
  Table table;
  table.headers = {std::string(key_header), "value"};
  table.row_count_footer = false;
  for (const auto& [name, member] : record.get_object()) flatten(member, std::string(name), table);
  return table;
}

}  // namespace pgb::bctl
