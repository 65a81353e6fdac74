// Tests for Rewriter: what a server connection receives for a client's extended-protocol
// messages, and what happens to the replies.
#include "statements/rewriter.hpp"

#include "protocol/byte_reader.hpp"
#include "protocol/message_builder.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgb::statements {
namespace {

using protocol::MessageBuilder;
using Reply = Rewriter::Reply;

std::string parse(std::string_view name, std::string_view sql) {
  return MessageBuilder().begin('P').cstr(name).cstr(sql).int16(0).end().take();
}
std::string bind(std::string_view statement, std::string_view param = "p") {
  return MessageBuilder()
      .begin('B')
      .cstr("")
      .cstr(statement)
      .int16(0)
      .int16(1)
      .int32(static_cast<std::int32_t>(param.size()))
      .bytes(param)
      .int16(0)
      .end()
      .take();
}
std::string statement_message(char type, std::string_view name) {
  return MessageBuilder().begin(type).byte('S').cstr(name).end().take();
}
std::string query(std::string_view sql) {
  return MessageBuilder().begin('Q').cstr(sql).end().take();
}
const std::string kSync = MessageBuilder().begin('S').end().take();
const std::string kExecute = MessageBuilder().begin('E').cstr("").int32(0).end().take();

// One line per message sent to the server: its type and the names (or SQL) in it; a Bind
// also shows its parameter, to prove the rest of the message came through.
std::vector<std::string> describe(std::string_view wire) {
  std::vector<std::string> out;
  while (wire.size() >= 5) {
    char type = wire[0];
    auto length = protocol::load_u32(wire.data() + 1);
    protocol::ByteReader r(wire.substr(5, length - 4));
    std::string line(1, type);
    if (type == 'P') {
      line += " " + std::string(*r.cstr());
      line += " " + std::string(*r.cstr());
    } else if (type == 'B') {
      r.cstr();
      line += " " + std::string(*r.cstr());
      r.int16();
      r.int16();
      auto n = *r.int32();
      line += " " + std::string(*r.bytes(n));
    } else if (type == 'C' || type == 'D') {
      char kind = *r.byte();
      line += std::string(" ") + kind + " " + std::string(*r.cstr());
    } else if (type == 'Q') {
      line += " " + std::string(*r.cstr());
    }
    out.push_back(line);
    wire.remove_prefix(1 + length);
  }
  return out;
}

// A client and the server connection it leases.
struct Harness {
  Registry& registry;
  ClientStatements client;
  std::optional<Rewriter> rw;
  Harness(Registry& r, ServerCache& s, std::size_t capacity = 10) : registry(r) {
    lease(s, capacity);
  }
  // A Parse and Sync the server answered with ParseComplete and ReadyForQuery.
  void prepare(std::string_view name, std::string_view sql) {
    send(parse(name, sql) + kSync);
    rw->on_parse_complete();
    rw->on_ready_for_query();
  }
  void lease(ServerCache& server, std::size_t capacity = 10) {
    server.begin_lease();
    rw.emplace(registry, client, server, capacity);
  }

  // What the relay does with a burst from the client.
  std::vector<std::string> send(const std::string& input) {
    struct Visitor {
      Rewriter& rw;
      std::string_view input;
      protocol::Splice& edits;
      std::uint32_t length = 0;
      protocol::FrameVerdict on_header(char type, std::uint32_t len) {
        length = len;
        if (type == 'Q' || type == 'S') rw.on_ready_request();
        return Rewriter::verdict_for(type, len);
      }
      bool on_message(char type, std::string_view payload) {
        auto at = static_cast<std::size_t>(payload.data() - input.data()) - 5;
        return rw.on_client_message(type, payload, length, at, edits) == Rewriter::Check::Ok;
      }
    };
    protocol::Splice edits;
    protocol::FrameScanner scanner(1 << 20);
    Visitor v{*rw, input, edits};
    auto scan = scanner.scan(input, v);
    EXPECT_EQ(scan.consumed, input.size());
    std::string wire;
    edits.for_each_piece(input, [&](std::string_view p) { wire += p; });
    return describe(wire);
  }
};

using Lines = std::vector<std::string>;

TEST(Rewriter, FirstParseIsRenamedAndItsReplyRelayed) {
  Registry registry;
  ServerCache server;
  Harness h(registry, server);
  EXPECT_EQ(h.send(parse("s1", "SELECT 1") + kSync), (Lines{"P pgbalancer_1 SELECT 1", "S"}));
  EXPECT_EQ(h.rw->on_parse_complete(), Reply::Relay);
  h.rw->on_ready_for_query();
  EXPECT_TRUE(h.rw->settled());
  EXPECT_EQ(h.send(bind("s1", "v") + kExecute + kSync), (Lines{"B pgbalancer_1 v", "E", "S"}));
}

TEST(Rewriter, ParseOfAStatementTheServerHasBecomesACloseAnsweredAsParseComplete) {
  Registry registry;
  ServerCache server;
  Harness first(registry, server), second(registry, server);
  first.send(parse("a", "SELECT 1") + kSync);
  EXPECT_EQ(second.send(parse("b", "SELECT 1") + kSync), (Lines{"C S pgbalancer_none", "S"}));
  EXPECT_EQ(second.rw->on_close_complete(), Reply::AsParseComplete);
}

TEST(Rewriter, BindOnAServerWithoutTheStatementPreparesItFirst) {
  Registry registry;
  ServerCache one, other;
  Harness h(registry, one);
  h.send(parse("s", "SELECT $1") + kSync);
  h.lease(other);
  EXPECT_EQ(h.send(bind("s", "x") + kExecute + kSync),
            (Lines{"P pgbalancer_1 SELECT $1", "B pgbalancer_1 x", "E", "S"}));
  EXPECT_EQ(h.rw->on_parse_complete(), Reply::Drop);
  EXPECT_EQ(h.send(statement_message('D', "s") + kSync), (Lines{"D S pgbalancer_1", "S"}));
}

TEST(Rewriter, UnknownAndUnnamedStatementsPassUntouched) {
  Registry registry;
  ServerCache server;
  Harness h(registry, server);
  EXPECT_EQ(h.send(parse("", "SELECT 1") + bind("", "u") + bind("nope", "n") + kSync),
            (Lines{"P  SELECT 1", "B  u", "B nope n", "S"}));
}

TEST(Rewriter, FullCacheClosesTheOldestStatementAndDropsTheReply) {
  Registry registry;
  ServerCache server;
  Harness h(registry, server, 1);
  h.prepare("a", "SELECT 'a'");
  server.begin_lease();
  EXPECT_EQ(h.send(parse("b", "SELECT 'b'") + kSync),
            (Lines{"C S pgbalancer_1", "P pgbalancer_2 SELECT 'b'", "S"}));
  EXPECT_EQ(h.rw->on_close_complete(), Reply::Drop);
  EXPECT_EQ(h.rw->on_parse_complete(), Reply::Relay);
}

TEST(Rewriter, CloseForgetsTheClientNameButKeepsTheServerCopy) {
  Registry registry;
  ServerCache server;
  Harness h(registry, server);
  h.prepare("s", "SELECT 1");
  EXPECT_EQ(h.send(statement_message('C', "s") + kSync), (Lines{"C S pgbalancer_none", "S"}));
  EXPECT_EQ(h.rw->on_close_complete(), Reply::Relay);
  EXPECT_TRUE(h.client.empty());
  EXPECT_EQ(server.size(), 1u);
}

TEST(Rewriter, AFailedParseIsForgottenAtReadyForQuery) {
  Registry registry;
  ServerCache server;
  Harness h(registry, server);
  h.send(parse("bad", "SELEC 1") + kSync);
  h.rw->on_ready_for_query();  // ErrorResponse instead of ParseComplete
  EXPECT_TRUE(h.rw->settled());
  EXPECT_TRUE(h.client.empty());
  EXPECT_EQ(server.size(), 0u);
}

TEST(Rewriter, SqlDeallocateOfAClientStatementUsesTheServerName) {
  Registry registry;
  ServerCache server;
  Harness h(registry, server);
  h.prepare("_pg3_0", "SELECT 1");
  EXPECT_EQ(h.send(query("DEALLOCATE _pg3_0")), (Lines{"Q DEALLOCATE pgbalancer_1"}));
  h.rw->on_command_complete(std::string_view("DEALLOCATE\0", 11));
  h.rw->on_ready_for_query();
  EXPECT_EQ(server.size(), 0u);
  EXPECT_TRUE(h.client.empty());
  EXPECT_EQ(h.send(query("DEALLOCATE other")), (Lines{"Q DEALLOCATE other"}));
}

TEST(Rewriter, RepliesToAnExtendedDeallocateAreMatchedInWireOrder) {
  Registry registry;
  ServerCache one, other;
  Harness h(registry, one);
  h.prepare("_pg3_0", "SELECT 1");
  h.lease(other);  // a connection without the statement: it is prepared before the DEALLOCATE
  EXPECT_EQ(h.send(parse("", "DEALLOCATE _pg3_0") + kSync),
            (Lines{"P pgbalancer_1 SELECT 1", "P  DEALLOCATE pgbalancer_1", "S"}));
  EXPECT_EQ(h.rw->on_parse_complete(), Reply::Drop);   // the injected Parse's
  EXPECT_EQ(h.rw->on_parse_complete(), Reply::Relay);  // the client's own
}

TEST(Rewriter, DiscardAllEmptiesBothSides) {
  Registry registry;
  ServerCache server;
  Harness h(registry, server);
  h.send(parse("s", "SELECT 1") + kSync);
  h.rw->on_command_complete(std::string_view("DISCARD ALL\0", 12));
  EXPECT_TRUE(h.client.empty());
  EXPECT_EQ(server.size(), 0u);
}

TEST(Rewriter, MalformedMessagesAreRefused) {
  Registry registry;
  ServerCache server;
  Harness h(registry, server);
  protocol::Splice edits;
  using Check = Rewriter::Check;
  EXPECT_EQ(h.rw->on_client_message('P', "no terminator", 17, 0, edits), Check::Malformed);
  EXPECT_EQ(h.rw->on_client_message('B', std::string_view("\0only-portal", 12), 16, 0, edits),
            Check::Malformed);
  EXPECT_EQ(h.rw->on_client_message('C', "", 4, 0, edits), Check::Malformed);
}

TEST(Rewriter, ANamedParseOverTheLimitIsRefusedAnUnnamedOneStreams) {
  Registry registry;
  ServerCache server;
  Harness h(registry, server);
  protocol::Splice edits;
  const std::uint32_t huge = Rewriter::kMaxParseLength + 100;
  EXPECT_EQ(Rewriter::verdict_for('P', huge), protocol::FrameVerdict::CapturePrefix);
  EXPECT_EQ(Rewriter::verdict_for('P', 100), protocol::FrameVerdict::CaptureWhole);
  using Check = Rewriter::Check;
  EXPECT_EQ(h.rw->on_client_message('P', std::string_view("s1\0SELECT", 10), huge, 0, edits),
            Check::TooLarge);
  EXPECT_EQ(h.rw->on_client_message('P', std::string_view("\0SELECT", 8), huge, 0, edits),
            Check::Ok);
  EXPECT_TRUE(edits.empty());
  EXPECT_EQ(h.rw->on_parse_complete(), Reply::Relay);
}

TEST(DeallocateTarget, ReadsTheNameAsPostgreSQLDoes) {
  EXPECT_EQ(deallocate_target("DEALLOCATE _pg3_0"), "_pg3_0");
  EXPECT_EQ(deallocate_target("  deallocate prepare Foo ;\n"), "foo");
  EXPECT_EQ(deallocate_target("DEALLOCATE \"Foo\""), "Foo");
  EXPECT_EQ(deallocate_target(std::string_view("DEALLOCATE x\0", 13)), "x");
  EXPECT_EQ(deallocate_target("DEALLOCATE ALL"), std::nullopt);
  EXPECT_EQ(deallocate_target("DEALLOCATE a; SELECT 1"), std::nullopt);
  EXPECT_EQ(deallocate_target("DEALLOCATE"), std::nullopt);
  EXPECT_EQ(deallocate_target("SELECT 1"), std::nullopt);
  EXPECT_EQ(deallocate_target("DEALLOCATE \"\""), std::nullopt);
}

}  // namespace
}  // namespace pgb::statements
