// SQLSTATEs pgbalancer reports itself (https://www.postgresql.org/docs/15/errcodes-appendix.html).
#pragma once

#include <string_view>

namespace pgb::sqlstate {
inline constexpr std::string_view kProtocolViolation = "08P01";
inline constexpr std::string_view kConnectionFailure = "08006";
inline constexpr std::string_view kFeatureNotSupported = "0A000";
inline constexpr std::string_view kInvalidAuthorization = "28000";
inline constexpr std::string_view kInvalidPassword = "28P01";
inline constexpr std::string_view kTooManyConnections = "53300";
inline constexpr std::string_view kProgramLimitExceeded = "54000";
inline constexpr std::string_view kIdleSessionTimeout = "57P05";
inline constexpr std::string_view kIdleInTransactionTimeout = "25P03";
inline constexpr std::string_view kInternalError = "XX000";
inline constexpr std::string_view kSyntaxError = "42601";
inline constexpr std::string_view kInsufficientPrivilege = "42501";
inline constexpr std::string_view kObjectNotInState = "55000";
inline constexpr std::string_view kInvalidStatementName = "26000";
}  // namespace pgb::sqlstate
