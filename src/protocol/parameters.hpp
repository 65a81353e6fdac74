// Client-visible server parameters that pgbalancer keeps in line when clients share server
// connections (transaction and statement pooling), as pgbouncer's varcache does.
#pragma once

#include "protocol/startup.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgb::protocol {

// Parameters PostgreSQL reports with ParameterStatus (GUC_REPORT) that a client may change and
// expects to keep. Others (server_version, is_superuser, ...) are the same on every connection of a
// pool.
inline const std::vector<std::string>& default_tracked_parameters() {
  static const std::vector<std::string> names = {
      "client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "standard_conforming_strings",
      "application_name"};
  return names;
}

// GUC names are case-insensitive in PostgreSQL.
bool same_parameter(std::string_view a, std::string_view b);
bool is_tracked(const std::vector<std::string>& tracked, std::string_view name);
const std::string* find_parameter(const Parameters& params, std::string_view name);
// Sets or adds `name` (case-insensitively matched).
void set_parameter(Parameters& params, std::string_view name, std::string_view value);

// The settings in a startup packet's `options` value, when it holds only `-c name=value` and
// `--name=value` switches (split and unescaped as PostgreSQL's pg_split_opts does); nullopt
// if it holds anything else.
std::optional<Parameters> parse_startup_options(std::string_view options);

// The statements that bring a server connection whose reported values are `current` to the
// client's `wanted` values for the `tracked` names; empty when nothing differs. Values are
// quoted as E'' literals, which read the same whatever standard_conforming_strings is.
std::string parameter_sync_query(const std::vector<std::string>& tracked, const Parameters& current,
                                 const Parameters& wanted);

}  // namespace pgb::protocol
