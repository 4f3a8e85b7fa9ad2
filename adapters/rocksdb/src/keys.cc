#include "keys.h"

#include <bit>
#include <cstring>

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

void PutString(std::string& out, std::string_view s) {
  // Lengths are at most a body's size (courier limits bodies far below 4 GiB).
  PutU64(out, s.size());
  out.append(s);
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

void EventKeyTo(std::string_view inbox, Seq seq, std::string& out) {
  out.clear();
  out.push_back(kEvent);
  out.append(inbox);
  out.push_back('\0');
  PutU64(out, seq);
}

std::string EventEnd(std::string_view inbox) {
  std::string k = NameKeyOf(kEvent, inbox, 1);
  k.push_back('\1');
  return k;
}

bool ParseEventKey(std::string_view key, std::string_view inbox, Seq* seq) {
  if (key.size() != inbox.size() + 10 || key[0] != kEvent ||
      key.substr(1, inbox.size()) != inbox || key[inbox.size() + 1] != '\0') {
    return false;
  }
  Reader r(key.substr(inbox.size() + 2));
  *seq = r.U64();
  return true;
}

std::string_view EventKeyInbox(std::string_view key) {
  if (key.size() < 11 || key[0] != kEvent || key[key.size() - 9] != '\0') return {};
  return key.substr(1, key.size() - 10);
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
  v.clear();
  v.reserve(2 + 16 + 5 * 8 + e.event.id.size() + e.event.peer.size() + e.event.body.size() +
            e.cid.size() + e.event.group.size());
  const bool has_group = !e.event.group.empty();
  v.push_back(static_cast<char>(static_cast<std::uint8_t>(e.event.kind) |
                                (has_group ? kHasGroup : 0)));
  v.push_back(static_cast<char>(e.event.status));
  PutU64(v, static_cast<std::uint64_t>(e.event.ts));
  PutU64(v, static_cast<std::uint64_t>(e.max_ts));
  PutString(v, e.event.id);
  PutString(v, e.event.peer);
  PutString(v, e.event.body);
  PutString(v, e.cid);
  if (has_group) PutString(v, e.event.group);
}

absl::StatusOr<StoredEvent> DecodeEvent(std::string_view value, Seq seq) {
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
  e.event.body = r.String();
  e.cid = r.String();
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

std::string EncodeMessage(const MessageRecord& m) {
  std::string v;
  v.reserve(8 + 1 + 8 + 8 + m.sender.size());
  PutU64(v, m.seq);
  v.push_back(m.read ? 1 : 0);
  PutU64(v, static_cast<std::uint64_t>(m.expiry));
  PutString(v, m.sender);
  return v;
}

absl::StatusOr<MessageRecord> DecodeMessage(std::string_view value) {
  Reader r(value);
  MessageRecord m;
  m.seq = r.U64();
  const std::uint8_t read = r.U8();
  m.expiry = static_cast<TimeMs>(r.U64());
  m.sender = r.String();
  if (absl::Status s = r.Done("message"); !s.ok()) return s;
  if (read > 1) return absl::DataLossError("rocksdb: stored message value is malformed");
  m.read = read == 1;
  return m;
}

std::string EncodeSend(const SendRecord& s) {
  std::string v;
  v.reserve(8 * 5 + s.recipient.size() + s.id.size());
  PutU64(v, s.seq);
  PutU64(v, static_cast<std::uint64_t>(s.ts));
  PutU64(v, static_cast<std::uint64_t>(s.expiry));
  PutString(v, s.recipient);
  PutString(v, s.id);
  return v;
}

absl::StatusOr<SendRecord> DecodeSend(std::string_view value) {
  Reader r(value);
  SendRecord s;
  s.seq = r.U64();
  s.ts = static_cast<TimeMs>(r.U64());
  s.expiry = static_cast<TimeMs>(r.U64());
  s.recipient = r.String();
  s.id = r.String();
  if (absl::Status st = r.Done("send"); !st.ok()) return st;
  return s;
}

bool ExpiryOf(char space, std::string_view value, TimeMs* expiry) {
  // 'M': seq(8) read(1) expiry(8) ...; 'S': seq(8) ts(8) expiry(8) ...
  const std::size_t at = space == kMessage ? 9 : space == kSend ? 16 : value.size();
  if (value.size() < at + 8) return false;
  Reader r(value.substr(at, 8));
  *expiry = static_cast<TimeMs>(r.U64());
  return true;
}

std::string EncodeFloor(const FloorRecord& f) {
  std::string v;
  PutU64(v, f.floor);
  PutU64(v, f.head);
  PutU64(v, static_cast<std::uint64_t>(f.max_ts));
  return v;
}

absl::StatusOr<FloorRecord> DecodeFloor(std::string_view value) {
  Reader r(value);
  FloorRecord f;
  f.floor = r.U64();
  f.head = r.U64();
  f.max_ts = static_cast<TimeMs>(r.U64());
  if (absl::Status s = r.Done("floor"); !s.ok()) return s;
  return f;
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
