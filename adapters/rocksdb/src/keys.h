// The key and value layouts of the "inbox" and "accounts" column families
// (rocksdb.h lists the keys and why they are shaped so). Every encoder here
// has its decoder beside it; a decoder never reads past its input and turns
// a malformed value into kDataLoss.
#ifndef COURIER_ADAPTERS_ROCKSDB_KEYS_H_
#define COURIER_ADAPTERS_ROCKSDB_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/types.h"

namespace courier::rocksdb::keys {

// --- Key spaces of the "inbox" column family (the first byte) ---------------
inline constexpr char kEvent = 'E';   // 'E' inbox \0 seq(8, big-endian)
inline constexpr char kCursor = 'C';  // 'C' inbox \0 device
inline constexpr char kMessage = 'M'; // 'M' inbox \0 message id
inline constexpr char kSend = 'S';    // 'S' sender \0 cid
inline constexpr char kFloor = 'F';   // 'F' inbox
inline constexpr char kGroup = 'G';   // 'G' group id: EncodeGroupRecord (courier/group.h)
inline constexpr char kMember = 'U';  // 'U' user \0 group id: empty; the groups of a user
inline constexpr char kReadMark = 'R';  // 'R' inbox \0 seq(8, big-endian): read while undelivered

// 'E' inbox \0 seq. Names hold no NUL, so "inbox \0" is prefix-free.
std::string EventKey(std::string_view inbox, Seq seq);
// EventKey into `out` (replacing what it held; its buffer is reused).
void EventKeyTo(std::string_view inbox, Seq seq, std::string& out);
// The first key after every event of `inbox` ('E' inbox \1).
std::string EventEnd(std::string_view inbox);
// The seq of an event key of `inbox`; false if `key` is not one.
bool ParseEventKey(std::string_view key, std::string_view inbox, Seq* seq);
// The inbox of any event key; empty if `key` is not an event key.
std::string_view EventKeyInbox(std::string_view key);

// 'R' inbox \0 seq: message `seq` of `inbox` was read while no cursor had
// passed it. Its value is EncodeU64(expiry), the expiry of its 'M' key.
std::string ReadMarkKey(std::string_view inbox, Seq seq);
// The seq of a read mark key of `inbox`; false if `key` is not one.
bool ParseReadMarkKey(std::string_view key, std::string_view inbox, Seq* seq);

// 'X' a \0 b, for the cursor, message and send keys (and account pairs).
std::string PairKey(char space, std::string_view a, std::string_view b);
// 'X' a \0 (the prefix of every PairKey(space, a, ...)) and its end.
std::string PairPrefix(char space, std::string_view a);
std::string PairPrefixEnd(char space, std::string_view a);
// 'X' a.
std::string NameKey(char space, std::string_view a);

// --- Values -------------------------------------------------------------------

// An event as appended, with the newest event time of its inbox up to it
// (max_ts: grows along the inbox; Prune's binary search and the compaction
// filter's expiry use it) and, for a message, its sender's client id (empty
// in a group copy other than the sender's own).
//
// Value: kind(1) status(1) ts(8) max_ts(8) id peer body cid [group], each
// string a length(8) and its bytes. `group` (Event::group) is written only
// when not empty, and then the kind byte has kHasGroup set: a 1:1 event's
// value is the one earlier builds wrote (every value written before groups
// decodes with an empty group), and a value cut right before its group is
// still refused.
struct StoredEvent {
  Event event;
  TimeMs max_ts = 0;
  std::string cid;
};
inline constexpr std::uint8_t kHasGroup = 0x80;  // in an event value's kind byte
std::string EncodeEvent(const StoredEvent& e);
// EncodeEvent into `out` (replacing what it held; its buffer is reused).
void EncodeEventTo(const StoredEvent& e, std::string& out);
// The same from the event's parts (no StoredEvent to build).
void EncodeEventTo(const Event& event, TimeMs max_ts, std::string_view cid, std::string& out);
// Which string fields DecodeEvent copies; those left out stay empty (they
// are still checked: a malformed value fails whatever is copied).
enum class EventFields {
  kAll,
  kNoCid,          // Fetch: the event as delivered
  kNoBodyNoCid,    // an ack's receipts: who sent which message
};
absl::StatusOr<StoredEvent> DecodeEvent(std::string_view value, Seq seq,
                                        EventFields fields = EventFields::kAll);
// Only the max_ts of an encoded event (Prune reads nothing else).
absl::StatusOr<TimeMs> DecodeEventMaxTs(std::string_view value);

// 'M' inbox \0 id: where the message is, who sent it, whether it was read.
// `expiry`: the compaction filter may drop the key once a finished Prune's
// TTL cutoff passed it (see message_store's Prune).
struct MessageRecord {
  Seq seq = 0;
  bool read = false;
  TimeMs expiry = 0;
  UserId sender;
};
std::string EncodeMessage(const MessageRecord& m);
absl::StatusOr<MessageRecord> DecodeMessage(std::string_view value);

// 'S' sender \0 cid: the first append of (sender, cid).
struct SendRecord {
  Seq seq = 0;
  TimeMs ts = 0;
  TimeMs expiry = 0;
  UserId recipient;
  MessageId id;
};
std::string EncodeSend(const SendRecord& s);
absl::StatusOr<SendRecord> DecodeSend(std::string_view value);

// The expiry of an 'M', 'S' or 'R' value (the compaction filter's only read);
// nullopt-like false when the value is malformed (then the filter keeps it).
bool ExpiryOf(char space, std::string_view value, TimeMs* expiry);

// 'F' inbox: every seq <= floor was pruned; head and max_ts as they were then.
struct FloorRecord {
  Seq floor = 0;
  Seq head = 0;
  TimeMs max_ts = 0;
};
std::string EncodeFloor(const FloorRecord& f);
absl::StatusOr<FloorRecord> DecodeFloor(std::string_view value);

// A fixed 8-byte unsigned value (cursors, last seen).
std::string EncodeU64(std::uint64_t v);
absl::StatusOr<std::uint64_t> DecodeU64(std::string_view value, const char* what);

}  // namespace courier::rocksdb::keys

#endif  // COURIER_ADAPTERS_ROCKSDB_KEYS_H_
