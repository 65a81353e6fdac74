// Finds message boundaries in a relayed byte stream without copying payloads.
//
// The relay hands the scanner whatever bytes it has buffered; the scanner walks the
// 5-byte headers, lets a visitor decide per message, and reports how many bytes may be
// forwarded now. A payload streams through in as many pieces as it arrives in, so a
// message of any size costs no memory beyond the relay buffer. Only a message the visitor
// asks to inspect ("capture") is held back until it is whole (or, for CapturePrefix, until
// its first kMaxCapture bytes are in).
#pragma once

#include "protocol/byte_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace pgb::protocol {

enum class FrameVerdict {
  Forward,        // relay it, payload unseen
  Capture,        // relay it, but show the whole payload to on_message first, if it is small
  CaptureWhole,   // show the whole payload however large (the caller grows its buffer)
  CapturePrefix,  // show the whole payload, or its first kMaxCapture bytes if it is larger
  StopBefore,     // stop scanning; this message and what follows stay unconsumed
};

enum class ScanStatus {
  NeedMore,  // everything usable was consumed; the rest is an incomplete header or captured message
  Stopped,   // the visitor asked to stop before a message
  Malformed,  // a length field is out of range; the stream cannot be trusted any more
};

struct ScanResult {
  std::size_t consumed = 0;  // bytes from the start of the input that may be relayed
  ScanStatus status = ScanStatus::NeedMore;
};

class FrameScanner {
 public:
  // The largest message whose payload can be captured; larger ones are forwarded unseen.
  // Must stay well below the relay buffer size so a held-back message always fits.
  static constexpr std::uint32_t kMaxCapture = 4096;

  explicit FrameScanner(std::uint32_t max_message_length) : max_length_(max_message_length) {}

  // `data` starts at the first byte the previous scan did not consume.
  // Visitor: FrameVerdict on_header(char type, std::uint32_t length), called once per message
  //          (optionally on_header_again(type, length) when a held-back message is scanned again);
  //          void on_message(char type, std::string_view payload)   (captured messages only),
  //          or bool on_message(...): false stops before that message, as StopBefore would.
  // `length` is the protocol's length field: payload plus its own 4 bytes. A payload shown
  // to on_message is a view of `data`, so its offset there locates the message.
  template <class Visitor>
  ScanResult scan(std::string_view data, Visitor&& visitor) {
    std::size_t pos = 0;
    needed_ = 5;
    while (pos < data.size()) {
      if (remaining_ > 0) {
        std::size_t take = std::min<std::size_t>(remaining_, data.size() - pos);
        pos += take;
        remaining_ -= take;
        continue;
      }
      if (data.size() - pos < 5) return {pos, ScanStatus::NeedMore};
      char type = data[pos];
      std::uint32_t length = load_u32(data.data() + pos + 1);
      if (length < 4 || length > max_length_) return {pos, ScanStatus::Malformed};
      // A message held back whole by the last scan starts this one: its header was seen then
      // (visitors count requests there), so its verdict is reused, not asked for again.
      FrameVerdict verdict;
      if (pos == 0 && held_) {
        verdict = held_verdict_;
        // A visitor made anew for each scan may need the header's length again.
        if constexpr (requires { visitor.on_header_again(type, length); }) {
          visitor.on_header_again(type, length);
        }
      } else {
        verdict = visitor.on_header(type, length);
      }
      held_ = false;
      if (verdict == FrameVerdict::StopBefore) return {pos, ScanStatus::Stopped};
      std::size_t payload = length - 4;
      bool show = verdict == FrameVerdict::CaptureWhole || verdict == FrameVerdict::CapturePrefix ||
                  (verdict == FrameVerdict::Capture && payload <= kMaxCapture);
      if (show) {
        std::size_t shown = verdict == FrameVerdict::CapturePrefix
                                ? std::min<std::size_t>(payload, kMaxCapture)
                                : payload;
        if (data.size() - pos < 5 + shown) {
          needed_ = 5 + shown;
          held_ = true;  // the caller passes this message first next time
          held_verdict_ = verdict;
          return {pos, ScanStatus::NeedMore};
        }
        if constexpr (std::is_same_v<decltype(visitor.on_message(type, data)), bool>) {
          // A visitor that returns false keeps this message from being relayed.
          if (!visitor.on_message(type, data.substr(pos + 5, shown))) {
            return {pos, ScanStatus::Stopped};
          }
        } else {
          visitor.on_message(type, data.substr(pos + 5, shown));
        }
        pos += 5 + shown;
        remaining_ = static_cast<std::uint32_t>(payload - shown);
        continue;
      }
      pos += 5;
      remaining_ = length - 4;
    }
    return {pos, ScanStatus::NeedMore};
  }

  // True between messages: nothing of a started message is still expected.
  bool at_boundary() const { return remaining_ == 0; }
  // After NeedMore: how many bytes, from the first unconsumed one, the next scan needs to
  // make progress (a header, or a message held back to be shown whole). The caller's buffer
  // must be able to hold that many.
  std::size_t needed() const { return needed_; }

 private:
  std::uint32_t max_length_;
  std::uint32_t remaining_ = 0;  // payload bytes of the current message not yet seen
  std::size_t needed_ = 5;
  bool held_ = false;  // the last scan ended holding a message back, with this verdict
  FrameVerdict held_verdict_ = FrameVerdict::Forward;
};

}  // namespace pgb::protocol
