// Buffered whole-message reads for the login and reset phases.
#include "backend/message_reader.hpp"

#include "common/sqlstate.hpp"
#include "protocol/byte_reader.hpp"

#include <fmt/format.h>

namespace pgb::backend {

awaitable<Result<Message>> read_message(net::Stream& stream, ByteBuffer& buffer,
                                        std::uint32_t max_length) {
  for (;;) {
    auto data = buffer.readable();
    if (data.size() >= 5) {
      std::uint32_t length = protocol::load_u32(data.data() + 1);
      if (length < 4 || length > max_length) {
        co_return make_error(
            sqlstate::kProtocolViolation,
            fmt::format("invalid message length {} for message type '{}'", length, data[0]));
      }
      if (data.size() >= 1 + std::size_t{length}) {
        Message m{data[0], std::string(data.substr(5, length - 4))};
        buffer.consume(1 + std::size_t{length});
        co_return m;
      }
      buffer.reserve(1 + std::size_t{length});
    }
    char* tail = buffer.tail(buffer.capacity() / 2);
    auto [ec, n] = co_await stream.read_some(asio::buffer(tail, buffer.tail_space()));
    if (ec) {
      co_return make_error(sqlstate::kConnectionFailure,
                           "server closed the connection unexpectedly", ec.message());
    }
    buffer.commit(n);
  }
}

}  // namespace pgb::backend
