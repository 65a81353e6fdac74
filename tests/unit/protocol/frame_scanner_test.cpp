// Tests for FrameScanner: boundaries found in whole, split, doubled, oversized and random input.
#include "protocol/frame_scanner.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace pgb::protocol {
namespace {

using namespace std::string_literals;

// type byte | int32 length (payload + 4) | payload
std::string frame(char type, std::string_view payload) {
  auto len = static_cast<std::uint32_t>(payload.size() + 4);
  std::string out(1, type);
  out += {static_cast<char>(len >> 24), static_cast<char>(len >> 16), static_cast<char>(len >> 8),
          static_cast<char>(len)};
  out += payload;
  return out;
}

std::string raw_header(char type, std::uint32_t len) {
  return {type, static_cast<char>(len >> 24), static_cast<char>(len >> 16),
          static_cast<char>(len >> 8), static_cast<char>(len)};
}

struct Captured {
  char type;
  std::string payload;
  bool operator==(const Captured&) const = default;
};

// Captures the types in `capture`, stops before `stop`, forwards the rest; records what it saw.
struct Recorder {
  explicit Recorder(std::string capture_types = "", char stop_type = 0)
      : capture(std::move(capture_types)), stop(stop_type) {}

  std::string capture;
  char stop;
  std::vector<std::pair<char, std::uint32_t>> headers;
  std::vector<Captured> captured;

  FrameVerdict on_header(char type, std::uint32_t length) {
    headers.emplace_back(type, length);
    if (type == stop) return FrameVerdict::StopBefore;
    return capture.find(type) != std::string::npos ? FrameVerdict::Capture : FrameVerdict::Forward;
  }
  void on_message(char type, std::string_view payload) {
    captured.push_back({type, std::string(payload)});
  }
};

// What the relay does: append what arrived, scan, relay and drop the consumed prefix.
struct Relay {
  FrameScanner scanner{1 << 20};
  std::string pending;
  std::string relayed;
  ScanResult last;

  ScanResult feed(std::string_view chunk, Recorder& visitor) {
    pending.append(chunk);
    last = scanner.scan(pending, visitor);
    EXPECT_LE(last.consumed, pending.size());
    relayed.append(pending, 0, last.consumed);
    pending.erase(0, last.consumed);
    return last;
  }
};

TEST(FrameScanner, EmptyInputNeedsMore) {
  FrameScanner scanner(1000);
  Recorder v;
  auto r = scanner.scan("", v);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_EQ(r.status, ScanStatus::NeedMore);
  EXPECT_TRUE(scanner.at_boundary());
  EXPECT_TRUE(v.headers.empty());
}

TEST(FrameScanner, WholeMessagesAreConsumedInOneScan) {
  std::string data = frame('Q', "SELECT 1\0"s) + frame('S', "") + frame('X', "");
  FrameScanner scanner(1000);
  Recorder v;
  auto r = scanner.scan(data, v);
  EXPECT_EQ(r.consumed, data.size());
  EXPECT_EQ(r.status, ScanStatus::NeedMore);
  EXPECT_TRUE(scanner.at_boundary());
  std::vector<std::pair<char, std::uint32_t>> want{{'Q', 13}, {'S', 4}, {'X', 4}};
  EXPECT_EQ(v.headers, want);
  EXPECT_TRUE(v.captured.empty());
}

TEST(FrameScanner, IncompleteHeaderIsHeldBack) {
  std::string data = frame('Q', "SELECT 1\0"s);
  for (std::size_t n = 0; n < 5; ++n) {
    FrameScanner scanner(1000);
    Recorder v;
    auto r = scanner.scan(std::string_view(data).substr(0, n), v);
    EXPECT_EQ(r.consumed, 0u) << n;
    EXPECT_EQ(r.status, ScanStatus::NeedMore);
    EXPECT_TRUE(v.headers.empty());
  }
}

TEST(FrameScanner, CapturedMessageIsShownWhole) {
  std::string data = frame('D', "row") + frame('Z', "I") + frame('C', "SELECT 1\0"s);
  FrameScanner scanner(1000);
  Recorder v("Z");
  auto r = scanner.scan(data, v);
  EXPECT_EQ(r.consumed, data.size());
  EXPECT_EQ(r.status, ScanStatus::NeedMore);
  EXPECT_EQ(v.captured, (std::vector<Captured>{{'Z', "I"}}));
}

// A held-back message's header is shown once, however many reads its payload takes: relays
// count requests in on_header (a second call would leave a Query forever unanswered).
TEST(FrameScanner, HeldBackMessageHeaderIsSeenOnce) {
  std::string data = frame('D', "row") + frame('Q', "SELECT 1\0"s) + frame('S', "");
  for (std::size_t cut = 1; cut < data.size(); ++cut) {
    for (std::size_t second = cut; second <= data.size(); ++second) {
      Relay relay;
      Recorder v("Q");
      relay.feed(std::string_view(data).substr(0, cut), v);
      relay.feed(std::string_view(data).substr(cut, second - cut), v);
      relay.feed(std::string_view(data).substr(second), v);
      EXPECT_EQ(v.headers.size(), 3u) << "cut at " << cut << " and " << second;
      EXPECT_EQ(v.captured, (std::vector<Captured>{{'Q', "SELECT 1\0"s}}));
      EXPECT_EQ(relay.relayed, data);
    }
  }
}

// A visitor made anew for each scan is told the held-back message's length again.
TEST(FrameScanner, HeldBackMessageLengthIsToldAgain) {
  std::string data = frame('P', std::string(100, 'x'));
  FrameScanner scanner(1000);
  struct Fresh {
    int headers = 0;
    std::uint32_t again = 0;
    FrameVerdict on_header(char, std::uint32_t) {
      ++headers;
      return FrameVerdict::CaptureWhole;
    }
    void on_header_again(char, std::uint32_t length) { again = length; }
    void on_message(char, std::string_view) {}
  };
  Fresh first;
  EXPECT_EQ(scanner.scan(std::string_view(data).substr(0, 50), first).consumed, 0u);
  Fresh second;
  EXPECT_EQ(scanner.scan(data, second).consumed, data.size());
  EXPECT_EQ(first.headers + second.headers, 1);
  EXPECT_EQ(second.again, 104u);
}

// Payload seen by on_message points into the scanned buffer, not a copy past it.
TEST(FrameScanner, CapturedPayloadIsAViewOfTheInput) {
  std::string data = frame('E', "SERROR\0\0"s);
  FrameScanner scanner(1000);
  struct {
    std::string_view seen;
    FrameVerdict on_header(char, std::uint32_t) { return FrameVerdict::Capture; }
    void on_message(char, std::string_view p) { seen = p; }
  } v;
  auto r = scanner.scan(data, v);
  EXPECT_EQ(r.consumed, data.size());
  EXPECT_EQ(v.seen.data(), data.data() + 5);
  EXPECT_EQ(v.seen.size(), data.size() - 5);
}

TEST(FrameScanner, DoubledMessagesInOneChunk) {
  std::string one = frame('Z', "T");
  std::string data = one + one;
  FrameScanner scanner(1000);
  Recorder v("Z");
  auto r = scanner.scan(data, v);
  EXPECT_EQ(r.consumed, data.size());
  EXPECT_EQ(v.captured, (std::vector<Captured>{{'Z', "T"}, {'Z', "T"}}));
  EXPECT_EQ(v.headers.size(), 2u);
}

// Forwarded 'D' is relayed at once; the captured 'Z' waits until its last byte arrives.
TEST(FrameScanner, CaptureHoldsBackAnIncompleteMessage) {
  std::string d = frame('D', "some row data");
  std::string z = frame('E', "SERROR\0C42P01\0Mno table\0\0"s);
  Relay relay;
  Recorder v("E");
  auto r = relay.feed(d + z.substr(0, 9), v);
  EXPECT_EQ(r.consumed, d.size());
  EXPECT_EQ(r.status, ScanStatus::NeedMore);
  EXPECT_TRUE(v.captured.empty());
  EXPECT_TRUE(relay.scanner.at_boundary());  // nothing of the held-back message was relayed

  r = relay.feed(z.substr(9), v);
  EXPECT_EQ(r.consumed, z.size());
  ASSERT_EQ(v.captured.size(), 1u);
  EXPECT_EQ(v.captured[0].payload, z.substr(5));
  EXPECT_EQ(relay.relayed, d + z);
  EXPECT_TRUE(relay.pending.empty());
}

// A stream of forwarded and captured messages, cut into two pieces at every offset.
TEST(FrameScanner, StreamSplitAtEveryOffset) {
  std::string stream = frame('T', "rowdesc") + frame('D', "") + frame('Z', "I") +
                       frame('E', "SERROR\0\0"s) + frame('C', "SELECT 1\0"s) + frame('Z', "T");
  std::vector<Captured> want{{'Z', "I"}, {'E', "SERROR\0\0"s}, {'Z', "T"}};

  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    Relay relay;
    Recorder v("ZE");
    relay.feed(std::string_view(stream).substr(0, cut), v);
    auto r = relay.feed(std::string_view(stream).substr(cut), v);
    EXPECT_EQ(r.status, ScanStatus::NeedMore) << "cut " << cut;
    EXPECT_EQ(relay.relayed, stream) << "cut " << cut;
    EXPECT_TRUE(relay.pending.empty()) << "cut " << cut;
    EXPECT_EQ(v.captured, want) << "cut " << cut;
    EXPECT_TRUE(relay.scanner.at_boundary()) << "cut " << cut;
  }
}

TEST(FrameScanner, StreamSplitAtEveryPairOfOffsets) {
  std::string stream = frame('D', "abc") + frame('Z', "I") + frame('Q', "") + frame('Z', "E");
  std::vector<Captured> want{{'Z', "I"}, {'Z', "E"}};
  std::string_view s(stream);
  for (std::size_t i = 0; i <= s.size(); ++i) {
    for (std::size_t j = i; j <= s.size(); ++j) {
      Relay relay;
      Recorder v("Z");
      relay.feed(s.substr(0, i), v);
      relay.feed(s.substr(i, j - i), v);
      relay.feed(s.substr(j), v);
      ASSERT_EQ(relay.relayed, stream) << i << "," << j;
      ASSERT_EQ(v.captured, want) << i << "," << j;
    }
  }
}

TEST(FrameScanner, StreamFedOneByteAtATime) {
  std::string stream =
      frame('D', "abc") + frame('Z', "I") + frame('D', std::string(300, 'x')) + frame('Z', "T");
  Relay relay;
  Recorder v("Z");
  for (char c : stream) relay.feed(std::string_view(&c, 1), v);
  EXPECT_EQ(relay.relayed, stream);
  EXPECT_EQ(v.captured, (std::vector<Captured>{{'Z', "I"}, {'Z', "T"}}));
  EXPECT_TRUE(relay.pending.empty());
}

// The client's Terminate: stop before it; it and everything after stay unconsumed.
TEST(FrameScanner, StopBeforeLeavesTheMessageUnconsumed) {
  std::string q = frame('Q', "SELECT 1\0"s);
  std::string data = q + frame('X', "") + frame('Q', "after\0"s);
  FrameScanner scanner(1000);
  Recorder v("", 'X');
  auto r = scanner.scan(data, v);
  EXPECT_EQ(r.consumed, q.size());
  EXPECT_EQ(r.status, ScanStatus::Stopped);
  EXPECT_TRUE(scanner.at_boundary());

  auto again = scanner.scan(std::string_view(data).substr(r.consumed), v);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_EQ(again.status, ScanStatus::Stopped);
}

TEST(FrameScanner, LengthBelowFourIsMalformed) {
  std::string good = frame('Q', "x\0"s);
  for (std::uint32_t len : {0u, 1u, 3u}) {
    FrameScanner scanner(1000);
    Recorder v;
    auto r = scanner.scan(good + raw_header('Q', len) + "xxxx", v);
    EXPECT_EQ(r.status, ScanStatus::Malformed) << len;
    EXPECT_EQ(r.consumed, good.size()) << len;  // the valid message before it may still go
  }
}

TEST(FrameScanner, LengthAboveMaximumIsMalformed) {
  {
    FrameScanner scanner(100);
    Recorder v;
    auto r = scanner.scan(raw_header('D', 101), v);
    EXPECT_EQ(r.status, ScanStatus::Malformed);
    EXPECT_EQ(r.consumed, 0u);
    EXPECT_TRUE(v.headers.empty());  // the visitor never sees an untrusted length
  }
  {
    FrameScanner scanner(100);
    Recorder v;
    auto r = scanner.scan(raw_header('D', 0xffffffffu), v);
    EXPECT_EQ(r.status, ScanStatus::Malformed);
  }
  {
    FrameScanner scanner(100);  // exactly the maximum is fine
    Recorder v;
    auto r = scanner.scan(frame('D', std::string(96, 'x')), v);
    EXPECT_EQ(r.status, ScanStatus::NeedMore);
    EXPECT_EQ(r.consumed, 101u);
  }
}

// A 100 kB DataRow through a 4 kB buffer: every piece is relayed as it arrives, at_boundary
// only once the last byte has gone.
TEST(FrameScanner, LargeMessageStreamsThroughInPieces) {
  std::string big = frame('D', std::string(100'000, 'p'));
  std::string stream = big + frame('Z', "I");
  constexpr std::size_t kChunk = 4096;
  Relay relay;
  Recorder v("Z");
  for (std::size_t pos = 0; pos < big.size(); pos += kChunk) {
    auto chunk = std::string_view(big).substr(pos, kChunk);
    auto r = relay.feed(chunk, v);
    EXPECT_EQ(r.consumed, chunk.size()) << pos;  // nothing is held back
    EXPECT_EQ(relay.scanner.at_boundary(), pos + chunk.size() == big.size()) << pos;
  }
  relay.feed(std::string_view(stream).substr(big.size()), v);
  EXPECT_EQ(relay.relayed, stream);
  EXPECT_EQ(v.headers.front(), (std::pair<char, std::uint32_t>{'D', 100'004}));
  EXPECT_EQ(v.headers.size(), 2u);
  EXPECT_EQ(v.captured, (std::vector<Captured>{{'Z', "I"}}));
}

// A message the visitor wants to capture but which is too big to hold is forwarded unseen.
TEST(FrameScanner, OversizedCaptureIsForwardedUnseen) {
  std::string big = frame('E', std::string(FrameScanner::kMaxCapture + 1, 'e'));
  Relay relay;
  Recorder v("E");
  auto r = relay.feed(std::string_view(big).substr(0, 100), v);
  EXPECT_EQ(r.consumed, 100u);
  EXPECT_FALSE(relay.scanner.at_boundary());
  relay.feed(std::string_view(big).substr(100), v);
  EXPECT_EQ(relay.relayed, big);
  EXPECT_TRUE(v.captured.empty());
  EXPECT_TRUE(relay.scanner.at_boundary());
}

TEST(FrameScanner, CaptureAtTheLimitIsStillShown) {
  std::string msg = frame('E', std::string(FrameScanner::kMaxCapture, 'e'));
  FrameScanner scanner(1 << 20);
  Recorder v("E");
  auto r = scanner.scan(msg, v);
  EXPECT_EQ(r.consumed, msg.size());
  ASSERT_EQ(v.captured.size(), 1u);
  EXPECT_EQ(v.captured[0].payload.size(), FrameScanner::kMaxCapture);
}

// Random bytes and random verdicts: the scanner never reports more than it was given and
// every captured payload lies inside the input.
TEST(FrameScanner, RandomBuffersAreNeverOverRead) {
  std::mt19937 rng(20240611);
  for (int iter = 0; iter < 20'000; ++iter) {
    std::string data(rng() % 64, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    // Make small lengths likely so that headers are often accepted.
    for (std::size_t i = 1; i + 4 <= data.size(); i += 5 + rng() % 8) {
      if (rng() % 2) {
        data[i] = data[i + 1] = data[i + 2] = 0;
        data[i + 3] = static_cast<char>(rng() % 24);
      }
    }
    struct {
      std::mt19937* rng;
      std::string_view input;
      bool inside = true;
      FrameVerdict on_header(char, std::uint32_t) {
        return static_cast<FrameVerdict>((*rng)() % 3);
      }
      void on_message(char, std::string_view p) {
        inside = inside && p.data() >= input.data() &&
                 p.data() + p.size() <= input.data() + input.size();
      }
    } v{&rng, data};
    FrameScanner scanner(rng() % 2 ? 16 : 1 << 20);
    std::size_t fed = 0;
    std::size_t total = 0;
    // Feed the same scanner a few pieces, as the relay would.
    std::string pending;
    while (fed < data.size()) {
      std::size_t n = 1 + rng() % (data.size() - fed);
      pending.append(data, fed, n);
      fed += n;
      v.input = pending;
      auto r = scanner.scan(pending, v);
      ASSERT_LE(r.consumed, pending.size()) << "iteration " << iter;
      ASSERT_TRUE(v.inside) << "iteration " << iter;
      total += r.consumed;
      pending.erase(0, r.consumed);
      if (r.status != ScanStatus::NeedMore) break;
    }
    ASSERT_LE(total, data.size());
  }
}

}  // namespace
}  // namespace pgb::protocol

namespace pgb::protocol {
namespace {

// A visitor answering one fixed verdict for every message.
struct Fixed {
  FrameVerdict verdict;
  std::vector<std::string> shown;
  FrameVerdict on_header(char, std::uint32_t) { return verdict; }
  void on_message(char, std::string_view payload) { shown.emplace_back(payload); }
};

TEST(FrameScanner, CaptureWholeWaitsForALargeMessageAndSaysHowMuchItNeeds) {
  std::string msg = frame('P', std::string(3 * FrameScanner::kMaxCapture, 'q'));
  FrameScanner scanner(1 << 20);
  Fixed v{FrameVerdict::CaptureWhole, {}};
  auto first = scanner.scan(std::string_view(msg).substr(0, 100), v);
  EXPECT_EQ(first.consumed, 0u);
  EXPECT_EQ(scanner.needed(), msg.size());
  auto whole = scanner.scan(msg, v);
  EXPECT_EQ(whole.consumed, msg.size());
  ASSERT_EQ(v.shown.size(), 1u);
  EXPECT_EQ(v.shown[0].size(), 3 * FrameScanner::kMaxCapture);
}

TEST(FrameScanner, CapturePrefixShowsTheStartAndStreamsTheRest) {
  std::string payload(FrameScanner::kMaxCapture + 1000, 'b');
  payload[0] = 'S';
  std::string msg = frame('B', payload) + frame('E', "x");
  FrameScanner scanner(1 << 20);
  Fixed v{FrameVerdict::CapturePrefix, {}};
  auto prefix_only =
      scanner.scan(std::string_view(msg).substr(0, 5 + FrameScanner::kMaxCapture), v);
  EXPECT_EQ(prefix_only.consumed, 5 + FrameScanner::kMaxCapture);
  ASSERT_EQ(v.shown.size(), 1u);
  EXPECT_EQ(v.shown[0].size(), FrameScanner::kMaxCapture);
  EXPECT_EQ(v.shown[0][0], 'S');
  EXPECT_FALSE(scanner.at_boundary());
  auto rest = scanner.scan(std::string_view(msg).substr(prefix_only.consumed), v);
  EXPECT_EQ(prefix_only.consumed + rest.consumed, msg.size());
  ASSERT_EQ(v.shown.size(), 2u);
  EXPECT_EQ(v.shown[1], "x");  // a small message is shown whole
}

}  // namespace
}  // namespace pgb::protocol
