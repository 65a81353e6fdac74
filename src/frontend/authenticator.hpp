// Client authentication: proves who the client is according to auth_type and the auth_file,
// and collects what pgbalancer then needs to log in to PostgreSQL as that user.
#pragma once

#include "backend/server_connection.hpp"
#include "common/byte_buffer.hpp"
#include "frontend/shared_state.hpp"
#include "net/stream.hpp"

namespace pgb::frontend {

// On failure the Error is what the client must see (28P01 for a wrong password, with
// PostgreSQL's text); the reason for the operator goes to the log, never the password.
awaitable<Result<backend::Credentials>> authenticate_client(
    net::Stream& client, ByteBuffer& buffer, const Settings& settings, SharedState& shared,
    const std::string& user, const std::string& database, const std::string& peer);

}  // namespace pgb::frontend
