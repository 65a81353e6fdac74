#include "protocol/parameters.hpp"

#include <gtest/gtest.h>

namespace pgb::protocol {
namespace {

TEST(Parameters, NamesMatchCaseInsensitively) {
  EXPECT_TRUE(same_parameter("TimeZone", "timezone"));
  EXPECT_FALSE(same_parameter("TimeZone", "TimeZones"));
  Parameters p{{"TimeZone", "UTC"}};
  set_parameter(p, "timezone", "Asia/Tokyo");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].second, "Asia/Tokyo");
  set_parameter(p, "DateStyle", "ISO, MDY");
  EXPECT_EQ(*find_parameter(p, "datestyle"), "ISO, MDY");
  EXPECT_EQ(find_parameter(p, "IntervalStyle"), nullptr);
}

TEST(Parameters, SyncSetsOnlyWhatDiffers) {
  std::vector<std::string> tracked{"TimeZone", "DateStyle", "application_name"};
  Parameters server{{"TimeZone", "UTC"}, {"DateStyle", "ISO, MDY"}, {"application_name", ""}};
  Parameters client{{"TimeZone", "UTC"}, {"DateStyle", "German, DMY"}, {"application_name", "app"}};
  EXPECT_EQ(parameter_sync_query(tracked, server, client),
            "SET \"datestyle\" TO E'German, DMY';SET \"application_name\" TO E'app';");
  EXPECT_EQ(parameter_sync_query(tracked, client, client), "");
}

TEST(Parameters, SyncQuotesValuesWhateverStandardConformingStrings) {
  // A quote and a backslash must reach the server as themselves, in an E'' literal.
  std::vector<std::string> tracked{"application_name"};
  Parameters client{{"application_name", "it's \\ ok"}};
  EXPECT_EQ(parameter_sync_query(tracked, {}, client),
            "SET \"application_name\" TO E'it''s \\\\ ok';");
}

TEST(Parameters, UntrackedAndUnknownAreLeftAlone) {
  Parameters server{{"server_version", "15"}};
  Parameters client{{"server_version", "16"}};
  EXPECT_EQ(parameter_sync_query({"TimeZone"}, server, client), "");
}

}  // namespace
}  // namespace pgb::protocol

namespace pgb::protocol {
namespace {

TEST(StartupOptions, SettingsAreSplitAndUnescapedLikePostgres) {
  auto s =
      parse_startup_options("-c TimeZone=Asia/Tokyo  -capplication_name=a\\ b --search-path=x");
  ASSERT_TRUE(s);
  EXPECT_EQ(
      *s,
      (Parameters{{"TimeZone", "Asia/Tokyo"}, {"application_name", "a b"}, {"search_path", "x"}}));
  EXPECT_EQ(parse_startup_options("")->size(), 0u);
}

TEST(StartupOptions, AnythingButSettingsIsRefused) {
  EXPECT_FALSE(parse_startup_options("-d 5"));
  EXPECT_FALSE(parse_startup_options("-c"));
  EXPECT_FALSE(parse_startup_options("-c =x"));
  EXPECT_FALSE(parse_startup_options("plain"));
}

}  // namespace
}  // namespace pgb::protocol
