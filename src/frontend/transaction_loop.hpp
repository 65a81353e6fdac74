// The relay for plain-TCP clients in transaction and statement pooling, on the worker's
// event loop: each client is one object with readiness callbacks, never a coroutine, from
// login to close. See transaction_loop.cpp.
#pragma once

#include "common/byte_buffer.hpp"
#include "frontend/transaction_session.hpp"

namespace boost::asio {
class io_context;
}

namespace pgb::frontend {

// Takes over the client's socket (`fd`, no longer Asio's) on `context`'s event loop.
// `pending` is input already read after login: the start of the first request.
void serve_on_event_loop(boost::asio::io_context& context, int fd, TransactionSession session,
                         ByteBuffer pending);

}  // namespace pgb::frontend
