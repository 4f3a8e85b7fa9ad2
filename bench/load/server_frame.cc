// server_frame.cc: a server frame's JSON into an InFrame (a scanner for flat
// frames, RapidJSON's in-place DOM for the rest).
#include "server_frame.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "rapidjson/document.h"

namespace courier::load {
namespace {

// A parse allocates nothing on the heap for a frame of ours: the values live
// in a buffer on the stack, the strings stay where they are in the frame.
using FrameDoc = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                            rapidjson::MemoryPoolAllocator<>>;

// The members a frame of ours may carry; the op decides which of them count.
enum FieldId { kOp, kSeq, kId, kFrom, kBody, kCid, kDup, kCursor, kHead, kCode, kMessage, kFields };
constexpr std::string_view kFieldNames[kFields] = {"op",  "seq",    "id",   "from", "body",   "cid",
                                                   "dup", "cursor", "head", "code", "message"};

// One member's value, as much of it as InFrame needs.
struct FieldValue {
  bool set = false;
  bool is_string = false, is_uint = false, is_bool = false;
  std::string_view str;
  std::uint64_t uint = 0;
  bool boolean = false;
};

int FieldIndex(std::string_view key) {
  for (int i = 0; i < kFields; ++i) {
    if (key == kFieldNames[i]) return i;
  }
  return -1;
}

// Fills `out` from the collected members (both parses end here).
bool FillFrame(const FieldValue (&fv)[kFields], InFrame& out) {
  auto str = [&](int i) { return fv[i].is_string ? fv[i].str : std::string_view(); };
  auto u64 = [&](int i) -> std::uint64_t { return fv[i].is_uint ? fv[i].uint : 0; };
  const std::string_view op = str(kOp);
  out = InFrame{};
  if (op == "msg") {
    out.op = InFrame::Op::kMsg;
    out.seq = u64(kSeq);
    out.id = str(kId);
    out.from = str(kFrom);
    out.body = str(kBody);
  } else if (op == "receipt") {
    out.op = InFrame::Op::kReceipt;
    out.seq = u64(kSeq);
    out.id = str(kId);
  } else if (op == "sent") {
    out.op = InFrame::Op::kSent;
    out.cid = str(kCid);
    out.id = str(kId);
    out.dup = fv[kDup].is_bool && fv[kDup].boolean;
  } else if (op == "welcome") {
    out.op = InFrame::Op::kWelcome;
    out.cursor = u64(kCursor);
    out.head = u64(kHead);
  } else if (op == "synced") {
    out.op = InFrame::Op::kSynced;
    out.seq = u64(kSeq);
  } else if (op == "presence") {
    out.op = InFrame::Op::kPresence;
  } else if (op == "pong") {
    out.op = InFrame::Op::kPong;
  } else if (op == "error") {
    out.op = InFrame::Op::kError;
    out.code = str(kCode);
    out.message = str(kMessage);
    out.cid = str(kCid);
  } else if (op.empty()) {
    return false;
  }
  return true;
}

// The fast path, no DOM: a flat object whose strings have no escapes and no
// control characters, whose numbers are unsigned integers that fit 64 bits,
// and true/false/null. Anything else (a nested value, an escape, a negative
// or fractional number, any syntax error, a '\0' before the end) answers
// false and the frame goes to RapidJSON, which decides as it always did.
// Reads only; the strings are views into `json` as RapidJSON's in-place
// parse would give them (no escapes: the same bytes at the same place).
class FlatScanner {
 public:
  FlatScanner(const char* p, const char* end) : p_(p), end_(end) {}

  bool Scan(FieldValue (&fv)[kFields]) {
    SkipWs();
    if (!Eat('{')) return false;
    SkipWs();
    if (!Eat('}')) {
      for (;;) {
        std::string_view key;
        if (!Eat('"') || !String(key)) return false;
        SkipWs();
        if (!Eat(':')) return false;
        SkipWs();
        FieldValue v;
        if (!Value(v)) return false;
        const int i = FieldIndex(key);
        if (i >= 0 && !fv[i].set) fv[i] = v;  // the first of a repeated key wins
        SkipWs();
        if (Eat(',')) {
          SkipWs();
          continue;
        }
        if (Eat('}')) break;
        return false;
      }
    }
    SkipWs();
    return p_ == end_;
  }

 private:
  void SkipWs() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool Eat(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  // After the opening quote: up to the closing one.
  bool String(std::string_view& s) {
    // The closing quote (memchr: vector code), then one pass over the span
    // without an early exit (the compiler vectorizes it): an escape (also
    // what makes a quote before it not the closing one) or a control
    // character sends the frame to RapidJSON.
    const void* q = std::memchr(p_, '"', static_cast<std::size_t>(end_ - p_));
    if (q == nullptr) return false;
    const char* close = static_cast<const char*>(q);
    unsigned bad = 0;
    for (const char* c = p_; c < close; ++c) {
      const auto u = static_cast<unsigned char>(*c);
      bad |= static_cast<unsigned>(u < 0x20) | static_cast<unsigned>(u == '\\');
    }
    if (bad != 0) return false;
    s = std::string_view(p_, static_cast<std::size_t>(close - p_));
    p_ = close + 1;
    return true;
  }
  bool Literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }
  bool Value(FieldValue& v) {
    v.set = true;
    if (p_ >= end_) return false;
    const char c = *p_;
    if (c == '"') {
      ++p_;
      v.is_string = true;
      return String(v.str);
    }
    if (c >= '0' && c <= '9') {
      if (c == '0' && p_ + 1 < end_ && p_[1] >= '0' && p_[1] <= '9') return false;
      std::uint64_t n = 0;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        const std::uint64_t d = static_cast<std::uint64_t>(*p_ - '0');
        if (n > (UINT64_MAX - d) / 10) return false;  // RapidJSON makes it a double
        n = n * 10 + d;
        ++p_;
      }
      if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
      v.is_uint = true;
      v.uint = n;
      return true;
    }
    if (c == 't' && Literal("true")) {
      v.is_bool = v.boolean = true;
      return true;
    }
    if (c == 'f' && Literal("false")) {
      v.is_bool = true;
      return true;
    }
    return c == 'n' && Literal("null");
  }

  const char* p_;
  const char* end_;
};

}  // namespace

bool ParseServerFrameWithDom(char* json, std::size_t len, InFrame& out) {
  alignas(8) char value_buffer[2048];
  alignas(8) char stack_buffer[512];
  rapidjson::MemoryPoolAllocator<> value_alloc(value_buffer, sizeof(value_buffer));
  rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buffer, sizeof(stack_buffer));
  FrameDoc doc(&value_alloc, sizeof(stack_buffer), &stack_alloc);
  (void)len;  // the parse stops at json[len], the '\0' the caller put there
  doc.ParseInsitu(json);
  if (doc.HasParseError() || !doc.IsObject()) return false;
  // One pass over the members.
  FieldValue fv[kFields];
  // By index, not by iterator: clang's C++20 mode finds RapidJSON's iterator
  // comparison ambiguous (-Wambiguous-reversed-operator).
  const auto members = doc.MemberBegin();
  for (rapidjson::SizeType k = 0; k < doc.MemberCount(); ++k) {
    const auto& m = members[k];
    const int i = FieldIndex(std::string_view(m.name.GetString(), m.name.GetStringLength()));
    if (i < 0 || fv[i].set) continue;  // the first of a repeated key wins, as FindMember
    FieldValue& v = fv[i];
    v.set = true;
    if (m.value.IsString()) {
      v.is_string = true;
      v.str = std::string_view(m.value.GetString(), m.value.GetStringLength());
    } else if (m.value.IsUint64()) {
      v.is_uint = true;
      v.uint = m.value.GetUint64();
    } else if (m.value.IsBool()) {
      v.is_bool = true;
      v.boolean = m.value.GetBool();
    }
  }
  return FillFrame(fv, out);
}

bool ParseServerFrameInPlace(char* json, std::size_t len, InFrame& out) {
  FieldValue fv[kFields];
  if (FlatScanner(json, json + len).Scan(fv)) return FillFrame(fv, out);
  return ParseServerFrameWithDom(json, len, out);
}

bool ParseServerFrame(std::string_view json, InFrame& out) {
  thread_local std::string copy;
  copy.assign(json.data(), json.size());
  return ParseServerFrameInPlace(copy.data(), copy.size(), out);
}

}  // namespace courier::load
