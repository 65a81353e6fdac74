// Finds a user's secret: in the auth_file, else through auth_query run as auth_user.
#pragma once

#include "auth/userlist.hpp"
#include "frontend/shared_state.hpp"

#include <optional>
#include <string>

namespace pgb::frontend {

// nullopt: no such user (the caller then fails the login exactly like a wrong password).
// An Error means the lookup itself failed (auth_user could not connect or query).
awaitable<Result<std::optional<auth::UserSecret>>> find_user_secret(SharedState& shared,
                                                                    const Settings& settings,
                                                                    const std::string& user,
                                                                    const std::string& database);

// What pgbalancer can present to PostgreSQL for `user` from a stored secret plus .pgpass.
backend::Credentials stored_credentials(const Settings& settings, const auth::UserSecret* secret,
                                        const std::string& user, const std::string& database);

}  // namespace pgb::frontend
