#include "keys.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace courier::rocksdb::keys {
namespace {

// Byte order swap on little-endian hosts (its own inverse).
std::uint64_t ToBigEndian(std::uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) return __builtin_bswap64(v);
  return v;
}

void PutU64(std::string& out, std::uint64_t v) {
  const std::uint64_t be = ToBigEndian(v);
  char b[8];
  std::memcpy(b, &be, 8);
  out.append(b, 8);
}

// Reads a value front to back; any overrun sets `ok` to false.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  std::uint64_t U64() {
    if (in_.size() < 8) return Fail();
    std::uint64_t be = 0;
    std::memcpy(&be, in_.data(), 8);
    const std::uint64_t v = ToBigEndian(be);
    in_.remove_prefix(8);
    return v;
  }
  std::uint8_t U8() {
    if (in_.empty()) return static_cast<std::uint8_t>(Fail());
    const auto v = static_cast<std::uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return v;
  }
  std::string String() {
    const std::uint64_t n = U64();
    if (!ok_ || in_.size() < n) {
      Fail();
      return {};
    }
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  // A string field passed over (checked like String, not copied).
  void Skip() {
    const std::uint64_t n = U64();
    if (!ok_ || in_.size() < n) {
      Fail();
      return;
    }
    in_.remove_prefix(n);
  }
  // One field of a layout (below), by its type: Writer's encodings.
  void Field(std::uint64_t& v) { v = U64(); }
  void Field(std::int64_t& v) { v = static_cast<std::int64_t>(U64()); }
  void Field(bool& b) {
    const std::uint8_t v = U8();
    if (v > 1) Fail();
    b = v == 1;
  }
  void Field(std::string& s) { s = String(); }
  // OK when everything was read and nothing is left over.
  absl::Status Done(const char* what) const {
    if (ok_ && in_.empty()) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat("rocksdb: stored ", what, " value is malformed"));
  }

 private:
  std::uint64_t Fail() {
    ok_ = false;
    in_ = {};
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};

// Writes a value front to back: the other direction of Reader. Each field
// by its type: unsigned and signed 64-bit integers as 8 bytes big-endian
// (signed ones as their two's complement), bool as one byte 0 or 1, a string
// as its length (8 bytes) then its bytes.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void Field(std::uint64_t v) { PutU64(out_, v); }
  void Field(std::int64_t v) { PutU64(out_, static_cast<std::uint64_t>(v)); }
  void Field(bool b) { out_.push_back(b ? 1 : 0); }
  // Lengths are at most a body's size (courier limits bodies far below 4 GiB).
  void Field(std::string_view s) {
    PutU64(out_, s.size());
    out_.append(s);
  }

 private:
  std::string& out_;
};

// Counts the bytes a Writer would write (to reserve them first).
class Sizer {
 public:
  void Field(std::uint64_t) { bytes_ += 8; }
  void Field(std::int64_t) { bytes_ += 8; }
  void Field(bool) { bytes_ += 1; }
  void Field(std::string_view s) { bytes_ += 8 + s.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_ = 0;
};

// The layout of a value, written once for both directions: the record's
// fields in order, which a Sizer, a Writer or a Reader visits.
// 'M': seq(8) read(1) expiry(8) sender.
constexpr std::tuple kMessageLayout{&MessageRecord::seq, &MessageRecord::read,
                                    &MessageRecord::expiry, &MessageRecord::sender};
// 'S': seq(8) ts(8) expiry(8) recipient id.
constexpr std::tuple kSendLayout{&SendRecord::seq, &SendRecord::ts, &SendRecord::expiry,
                                 &SendRecord::recipient, &SendRecord::id};
// 'F': floor(8) head(8) max_ts(8).
constexpr std::tuple kFloorLayout{&FloorRecord::floor, &FloorRecord::head, &FloorRecord::max_ts};

template <class Io, class Record, class Layout>
void Visit(Io& io, Record& record, const Layout& layout) {
  std::apply([&](auto... field) { (io.Field(record.*field), ...); }, layout);
}

template <class Record, class Layout>
std::string Encode(const Layout& layout, const Record& record) {
  Sizer sizer;
  Visit(sizer, record, layout);
  std::string v;
  v.reserve(sizer.bytes());
  Writer writer(v);
  Visit(writer, record, layout);
  return v;
}

// The record `layout` reads from `value`; kDataLoss naming `what` when the
// value is short, too long, or a bool byte is neither 0 nor 1.
template <class Record, class Layout>
absl::StatusOr<Record> Decode(const Layout& layout, std::string_view value, const char* what) {
  Reader reader(value);
  Record record;
  Visit(reader, record, layout);
  if (absl::Status s = reader.Done(what); !s.ok()) return s;
  return record;
}

std::string NameKeyOf(char space, std::string_view a, std::size_t extra) {
  std::string k;
  k.reserve(2 + a.size() + extra);
  k.push_back(space);
  k.append(a);
  return k;
}

}  // namespace

std::string EventKey(std::string_view inbox, Seq seq) {
  std::string k;
  EventKeyTo(inbox, seq, k);
  return k;
}

namespace {
// space inbox \0 seq(8): the event and read mark keys.
void SeqKeyTo(char space, std::string_view inbox, Seq seq, std::string& out) {
  out.clear();
  out.push_back(space);
  out.append(inbox);
  out.push_back('\0');
  PutU64(out, seq);
}
bool ParseSeqKey(char space, std::string_view key, std::string_view inbox, Seq* seq) {
  if (key.size() != inbox.size() + 10 || key[0] != space ||
      key.substr(1, inbox.size()) != inbox || key[inbox.size() + 1] != '\0') {
    return false;
  }
  Reader r(key.substr(inbox.size() + 2));
  *seq = r.U64();
  return true;
}
}  // namespace

void EventKeyTo(std::string_view inbox, Seq seq, std::string& out) {
  SeqKeyTo(kEvent, inbox, seq, out);
}

std::string EventEnd(std::string_view inbox) {
  std::string k = NameKeyOf(kEvent, inbox, 1);
  k.push_back('\1');
  return k;
}

bool ParseEventKey(std::string_view key, std::string_view inbox, Seq* seq) {
  return ParseSeqKey(kEvent, key, inbox, seq);
}

std::string_view EventKeyInbox(std::string_view key) {
  if (key.size() < 11 || key[0] != kEvent || key[key.size() - 9] != '\0') return {};
  return key.substr(1, key.size() - 10);
}

std::string ReadMarkKey(std::string_view inbox, Seq seq) {
  std::string k;
  SeqKeyTo(kReadMark, inbox, seq, k);
  return k;
}

bool ParseReadMarkKey(std::string_view key, std::string_view inbox, Seq* seq) {
  return ParseSeqKey(kReadMark, key, inbox, seq);
}

std::string PairKey(char space, std::string_view a, std::string_view b) {
  std::string k = NameKeyOf(space, a, 1 + b.size());
  k.push_back('\0');
  k.append(b);
  return k;
}

std::string PairPrefix(char space, std::string_view a) { return PairKey(space, a, {}); }

std::string PairPrefixEnd(char space, std::string_view a) {
  std::string k = NameKeyOf(space, a, 1);
  k.push_back('\1');
  return k;
}

std::string NameKey(char space, std::string_view a) { return NameKeyOf(space, a, 0); }

std::string EncodeEvent(const StoredEvent& e) {
  std::string v;
  EncodeEventTo(e, v);
  return v;
}

void EncodeEventTo(const StoredEvent& e, std::string& v) {
  EncodeEventTo(e.event, e.max_ts, e.cid, v);
}

void EncodeEventTo(const Event& event, TimeMs max_ts, std::string_view cid, std::string& v) {
  v.clear();
  v.reserve(2 + 16 + 5 * 8 + event.id.size() + event.peer.size() + event.body.size() +
            cid.size() + event.group.size());
  const bool has_group = !event.group.empty();
  v.push_back(static_cast<char>(static_cast<std::uint8_t>(event.kind) |
                                (has_group ? kHasGroup : 0)));
  v.push_back(static_cast<char>(event.status));
  Writer w(v);
  w.Field(event.ts);
  w.Field(max_ts);
  w.Field(event.id);
  w.Field(event.peer);
  w.Field(event.body);
  w.Field(cid);
  if (has_group) w.Field(event.group);
}

absl::StatusOr<StoredEvent> DecodeEvent(std::string_view value, Seq seq, EventFields fields) {
  Reader r(value);
  StoredEvent e;
  e.event.seq = seq;
  const std::uint8_t kind_byte = r.U8();
  const auto kind = static_cast<std::uint8_t>(kind_byte & ~kHasGroup);
  const std::uint8_t status = r.U8();
  e.event.ts = static_cast<TimeMs>(r.U64());
  e.max_ts = static_cast<TimeMs>(r.U64());
  e.event.id = r.String();
  e.event.peer = r.String();
  if (fields == EventFields::kAll || fields == EventFields::kNoCid) {
    e.event.body = r.String();
  } else {
    r.Skip();
  }
  if (fields == EventFields::kAll) {
    e.cid = r.String();
  } else {
    r.Skip();
  }
  if ((kind_byte & kHasGroup) != 0) e.event.group = r.String();
  if (absl::Status s = r.Done("event"); !s.ok()) return s;
  if (kind != static_cast<std::uint8_t>(EventKind::kMessage) &&
      kind != static_cast<std::uint8_t>(EventKind::kReceipt) &&
      kind != static_cast<std::uint8_t>(EventKind::kGroupChange)) {
    return absl::DataLossError(absl::StrCat("rocksdb: stored event kind ", kind, " is invalid"));
  }
  if (status > static_cast<std::uint8_t>(MessageStatus::kRead)) {
    return absl::DataLossError(absl::StrCat("rocksdb: stored status ", status, " is invalid"));
  }
  e.event.kind = static_cast<EventKind>(kind);
  e.event.status = static_cast<MessageStatus>(status);
  return e;
}

absl::StatusOr<TimeMs> DecodeEventMaxTs(std::string_view value) {
  if (value.size() < 18) return absl::DataLossError("rocksdb: stored event value is malformed");
  Reader r(value.substr(10, 8));
  return static_cast<TimeMs>(r.U64());
}

std::string EncodeMessage(const MessageRecord& m) { return Encode(kMessageLayout, m); }

absl::StatusOr<MessageRecord> DecodeMessage(std::string_view value) {
  return Decode<MessageRecord>(kMessageLayout, value, "message");
}

std::string EncodeSend(const SendRecord& s) { return Encode(kSendLayout, s); }

absl::StatusOr<SendRecord> DecodeSend(std::string_view value) {
  return Decode<SendRecord>(kSendLayout, value, "send");
}

bool ExpiryOf(char space, std::string_view value, TimeMs* expiry) {
  // 'M': seq(8) read(1) expiry(8) ...; 'S': seq(8) ts(8) expiry(8) ...;
  // 'R': expiry(8).
  const std::size_t at = space == kMessage    ? 9
                         : space == kSend     ? 16
                         : space == kReadMark ? 0
                                              : value.size();
  if (value.size() < at + 8) return false;
  Reader r(value.substr(at, 8));
  *expiry = static_cast<TimeMs>(r.U64());
  return true;
}

std::string EncodeFloor(const FloorRecord& f) { return Encode(kFloorLayout, f); }

absl::StatusOr<FloorRecord> DecodeFloor(std::string_view value) {
  return Decode<FloorRecord>(kFloorLayout, value, "floor");
}

std::string EncodeU64(std::uint64_t v) {
  std::string out;
  PutU64(out, v);
  return out;
}

absl::StatusOr<std::uint64_t> DecodeU64(std::string_view value, const char* what) {
  Reader r(value);
  const std::uint64_t v = r.U64();
  if (absl::Status s = r.Done(what); !s.ok()) return s;
  return v;
}

}  // namespace courier::rocksdb::keys
