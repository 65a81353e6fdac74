// Process-wide state shared by all sessions.
#include "frontend/shared_state.hpp"

#include "auth/crypto.hpp"

namespace pgb::frontend {

SharedState::SharedState() : mock_secret_key_(auth::random_bytes(32)) {}

}  // namespace pgb::frontend
