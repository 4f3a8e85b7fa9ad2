// Tests of courier::IsValidUtf8 (courier/types.h) as the framing layer's
// check of text messages and close reasons, and that it agrees with an
// independent reference decoder.
#include "courier/types.h"

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "framing_test_support.h"

namespace courier::websocket::internal {
namespace {

using namespace framing_test;  // NOLINT(google-build-using-namespace)

// A reference UTF-8 decoder, written from RFC 3629 section 4 by code point
// arithmetic, independent of the checked IsValidUtf8 (core's, which checks
// byte ranges behind an ASCII fast path). The two must agree.
bool ReferenceUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint8_t b = static_cast<std::uint8_t>(s[i]);
    int extra;
    std::uint32_t cp;
    std::uint32_t min;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      extra = 1, cp = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      extra = 2, cp = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      extra = 3, cp = b & 0x07, min = 0x10000;
    } else {
      return false;  // a continuation byte, or 0xF8..0xFF
    }
    if (s.size() - i <= static_cast<std::size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      const std::uint8_t c = static_cast<std::uint8_t>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

// An input and what it is (said when a check fails).
struct Utf8Case {
  std::string_view bytes;
  const char* what;
};

TEST_CASE("IsValidUtf8: ASCII and well-formed characters", "[websocket][utf8]") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("hello, world"));
  CHECK(IsValidUtf8(std::string_view("\0", 1)));
  CHECK(IsValidUtf8(std::string(1000, 'x')));
  CHECK(IsValidUtf8("\xC3\xA9"));                // é
  CHECK(IsValidUtf8("\xE2\x82\xAC"));            // €
  CHECK(IsValidUtf8("\xF0\x9F\x98\x80"));        // 😀
  CHECK(IsValidUtf8("a\xC3\xA9" "b\xE2\x82\xAC" "c\xF0\x9F\x98\x80" "d"));
}

TEST_CASE("IsValidUtf8: boundaries of each length", "[websocket][utf8]") {
  const Utf8Case boundaries[] = {
      {"\x7F", "U+007F"},
      {"\xC2\x80", "U+0080"},
      {"\xDF\xBF", "U+07FF"},
      {"\xE0\xA0\x80", "U+0800"},
      {"\xED\x9F\xBF", "U+D7FF"},
      {"\xEE\x80\x80", "U+E000"},
      {"\xEF\xBF\xBF", "U+FFFF"},
      {"\xF0\x90\x80\x80", "U+10000"},
      {"\xF4\x8F\xBF\xBF", "U+10FFFF"},
  };
  for (const Utf8Case& c : boundaries) {
    INFO(c.what);
    CHECK(IsValidUtf8(c.bytes));
  }
  for (std::uint32_t cp : {0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    INFO("U+" << std::hex << cp);
    CHECK(IsValidUtf8(EncodeCodePoint(cp)));
  }
}

TEST_CASE("IsValidUtf8: ill-formed sequences", "[websocket][utf8]") {
  const Utf8Case ill_formed[] = {
      {"\xC0\x80", "overlong"},
      {"\xC1\xBF", "overlong"},
      {"\xE0\x80\x80", "overlong"},
      {"\xE0\x9F\xBF", "overlong"},
      {"\xF0\x80\x80\x80", "overlong"},
      {"\xF0\x8F\xBF\xBF", "overlong"},
      {"\xED\xA0\x80", "a surrogate"},
      {"\xED\xBF\xBF", "a surrogate"},
      {"\xED\xA0\x80\xED\xB0\x80", "a surrogate pair (CESU-8)"},
      {"\xF4\x90\x80\x80", "above U+10FFFF"},
      {"\xC3", "truncated at the end"},
      {"\xE2\x82", "truncated at the end"},
      {"\xE2", "truncated at the end"},
      {"\xF0\x9F\x98", "truncated at the end"},
      {"abc\xF0\x9F", "truncated at the end"},
      {"abcdefgh\xF0", "truncated at the end"},
      {"\xC3" "a", "an ASCII byte where a continuation belongs"},
      {"\xE2\x82" "a", "an ASCII byte where a continuation belongs"},
      {"\xF0\x9F\x98" "a", "an ASCII byte where a continuation belongs"},
      {"\x80", "a lone continuation byte"},
      {"\xBF", "a lone continuation byte"},
      {"a\x80" "b", "a lone continuation byte"},
      {"\xC3\xA9\xA9", "a lone continuation byte"},
      {"\xF0\x9F\x98\x80\x80", "a lone continuation byte"},
  };
  for (const Utf8Case& c : ill_formed) {
    INFO(c.what << ": " << Hex(c.bytes));
    CHECK_FALSE(IsValidUtf8(c.bytes));
  }
  // Lead bytes above U+10FFFF's (0xF5..0xFF), alone or followed.
  for (int lead = 0xF5; lead <= 0xFF; ++lead) {
    INFO("lead byte " << lead);
    CHECK_FALSE(IsValidUtf8(Bytes({lead, 0x80, 0x80, 0x80})));
    CHECK_FALSE(IsValidUtf8(Bytes({lead})));
  }
}

TEST_CASE("IsValidUtf8: one bad byte anywhere in an ASCII run", "[websocket][utf8]") {
  // Every position of runs that straddle the eight-byte fast path, from
  // every start offset of a larger buffer (alignment).
  std::string storage(64, 'x');
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t len = 1; len <= 48; ++len) {
      for (std::size_t pos = 0; pos < len && pos <= 40; ++pos) {
        for (const char bad : {'\x80', '\xFF', '\xC3', '\xF5'}) {
          std::string s = storage;
          s[offset + pos] = bad;
          INFO("offset " << offset << " length " << len << " bad byte at " << pos);
          REQUIRE_FALSE(IsValidUtf8(std::string_view(s).substr(offset, len)));
        }
      }
      REQUIRE(IsValidUtf8(std::string_view(storage).substr(offset, len)));
    }
  }
  // A valid multi-byte character at every position is fine; cut short at
  // the end of the view it is not.
  for (std::size_t pos = 0; pos <= 40; ++pos) {
    for (std::uint32_t cp : {0xE9u, 0x20ACu, 0x1F600u}) {
      const std::string c = EncodeCodePoint(cp);
      std::string s = std::string(pos, 'a') + c + std::string(16, 'b');
      INFO("U+" << std::hex << cp << " at " << std::dec << pos);
      REQUIRE(IsValidUtf8(s));
      REQUIRE_FALSE(IsValidUtf8(std::string_view(s).substr(0, pos + c.size() - 1)));
      // The 0x80 bit in a continuation, then ASCII, is found too.
      std::string broken = s;
      broken[pos + c.size() - 1] = 'z';
      REQUIRE_FALSE(IsValidUtf8(broken));
    }
  }
}

TEST_CASE("IsValidUtf8: every code point", "[websocket][utf8]") {
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (IsValidUtf8(EncodeCodePoint(cp)) == surrogate) {
      FAIL("U+" << std::hex << cp << (surrogate ? " (surrogate) accepted" : " refused"));
    }
  }
  for (std::uint32_t cp = 0x110000; cp < 0x140000; cp += 0x111) {
    if (IsValidUtf8(EncodeCodePoint(cp))) FAIL("U+" << std::hex << cp << " accepted");
  }
}

TEST_CASE("IsValidUtf8: agrees with a reference decoder", "[websocket][utf8]") {
  SECTION("every two-byte string and three-byte strings with a multi-byte lead") {
    for (int a = 0; a < 256; ++a) {
      for (int b = 0; b < 256; ++b) {
        const std::string s = Bytes({a, b});
        if (IsValidUtf8(s) != ReferenceUtf8(s)) FAIL("disagree on " << Hex(s));
      }
    }
    for (int a = 0xE0; a <= 0xF4; ++a) {
      for (int b = 0x70; b < 0xD0; ++b) {
        for (int c = 0; c < 256; ++c) {
          const std::string s = Bytes({a, b, c});
          if (IsValidUtf8(s) != ReferenceUtf8(s)) FAIL("disagree on " << Hex(s));
          const std::string t = Bytes({a, b, c, 0x80});
          if (IsValidUtf8(t) != ReferenceUtf8(t)) FAIL("disagree on " << Hex(t));
        }
      }
    }
  }
  SECTION("random strings biased towards 0x7F..0xF5") {
    std::mt19937 rng(20240611);
    int valid = 0;
    for (int i = 0; i < 20000; ++i) {
      const std::size_t len = rng() % 40;
      std::string s;
      for (std::size_t k = 0; k < len; ++k) {
        const unsigned r = rng() % 8;
        if (r < 4) {
          s.push_back(static_cast<char>(0x7F + rng() % (0xF6 - 0x7F)));
        } else if (r < 6) {
          s.push_back(static_cast<char>(0x80 + rng() % 0x40));
        } else if (r < 7) {
          s.push_back(static_cast<char>(rng() % 0x80));
        } else {
          s.push_back(static_cast<char>(rng() % 256));
        }
      }
      const bool want = ReferenceUtf8(s);
      valid += want;
      if (IsValidUtf8(s) != want) FAIL("disagree on " << Hex(s) << ": reference says " << want);
    }
    // The generator must produce both answers to be a useful comparison.
    CHECK(valid > 100);
  }
  SECTION("random well-formed text, then one byte changed") {
    std::mt19937 rng(7);
    for (int i = 0; i < 5000; ++i) {
      std::string s;
      const int chars = rng() % 24;
      for (int k = 0; k < chars; ++k) {
        std::uint32_t cp;
        switch (rng() % 4) {
          case 0: cp = rng() % 0x80; break;
          case 1: cp = 0x80 + rng() % (0x800 - 0x80); break;
          case 2: cp = 0x800 + rng() % (0x10000 - 0x800); break;
          default: cp = 0x10000 + rng() % (0x110000 - 0x10000); break;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'S';
        s += EncodeCodePoint(cp);
      }
      REQUIRE(IsValidUtf8(s));
      if (s.empty()) continue;
      s[rng() % s.size()] = static_cast<char>(rng() % 256);
      const bool want = ReferenceUtf8(s);
      if (IsValidUtf8(s) != want) FAIL("disagree on " << Hex(s) << ": reference says " << want);
    }
  }
}

}  // namespace
}  // namespace courier::websocket::internal
