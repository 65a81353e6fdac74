// How the API's JSON answers are shown: a list as one row per object, a single object (status, a
// node, the configuration) as key/value pairs.
#pragma once

#include "tools/bctl/table.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <span>
#include <string_view>

namespace pgb::bctl {

// One row per object of `list`. `columns` come first and in that order, so an empty list still
// shows its header and a missing key shows as an empty cell; keys a newer server adds follow.
// nullopt if `list` is not an array of objects.
std::optional<Table> list_table(const boost::json::value& list,
                                std::span<const std::string_view> columns);

// Two columns, `key_header` and "value", in the object's order. Nested objects are flattened to
// dotted keys (rest_api.port) and arrays indexed (backend_servers[0].port), so every setting is
// one line that grep finds. nullopt if `record` is not an object.
std::optional<Table> record_table(const boost::json::value& record, std::string_view key_header);

// A JSON value as a cell: strings as they are, numbers in their shortest round-trip form (not
// Boost.JSON's 4.1E-1), booleans as true/false, null empty, arrays and objects as compact JSON.
Cell to_cell(const boost::json::value& value);

}  // namespace pgb::bctl
