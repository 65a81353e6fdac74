// Tests for Splice: inserted, replaced and dropped ranges come out in order.
#include "protocol/splice.hpp"

#include <gtest/gtest.h>

namespace pgb::protocol {
namespace {

std::string apply(const Splice& s, std::string_view input) {
  std::string out;
  s.for_each_piece(input, [&](std::string_view piece) {
    EXPECT_FALSE(piece.empty());
    out += piece;
  });
  return out;
}

TEST(Splice, NoEditsIsTheInput) {
  EXPECT_EQ(apply(Splice{}, "abcdef"), "abcdef");
}

TEST(Splice, InsertReplaceAndDropInOrder) {
  Splice s;
  s.insert(0, "<");
  s.replace(1, 3, "XY");  // "bc"
  s.insert(3, "+");
  s.replace(4, 5, "");  // drops "e"
  s.insert(6, ">");
  EXPECT_EQ(apply(s, "abcdef"), "<aXY+df>");
}

TEST(Splice, ClearForgetsEdits) {
  Splice s;
  s.replace(0, 6, "z");
  s.clear();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(apply(s, "abcdef"), "abcdef");
}

}  // namespace
}  // namespace pgb::protocol
