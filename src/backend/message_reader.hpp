// Reads whole protocol messages during login and reset, where messages are small and few.
// (The relay never uses this: it streams frames, see protocol/frame_scanner.hpp.)
#pragma once

#include "common/byte_buffer.hpp"
#include "common/result.hpp"
#include "net/stream.hpp"

#include <string>

namespace pgb::backend {

struct Message {
  char type = 0;
  std::string payload;
};

// Fails with 08006 when the stream ends or errs, 08P01 when a length is out of range.
awaitable<Result<Message>> read_message(net::Stream& stream, ByteBuffer& buffer,
                                        std::uint32_t max_length);

}  // namespace pgb::backend
