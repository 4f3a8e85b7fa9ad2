// courier/types.h: the vocabulary of the inbox model.
//
// Every user has one inbox: an append-only log of events numbered by a per-user
// Seq that starts at 1 and has no gaps. An event is either a message addressed
// to the user or a receipt (delivered / read) for a message the user sent.
// Every device of a user has a cursor: the highest Seq the device has acked.
// A message to a group (courier/group.h) is one kMessage event in the inbox of
// every member; a change of a group's membership is a kGroupChange event.
//
// Thread-safety: plain values; the usual rules for std types apply.
// Blocking: nothing here blocks.
#ifndef COURIER_CORE_TYPES_H_
#define COURIER_CORE_TYPES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "courier/export.h"

namespace courier {

using UserId = std::string;     // 1-64 of [A-Za-z0-9_.-]
using DeviceId = std::string;   // 1-64 of [A-Za-z0-9_.-]
using NodeId = std::string;     // 1-64 of [A-Za-z0-9_.-]
using MessageId = std::string;  // server-assigned, 1-64 bytes of [A-Za-z0-9_-]
using GroupId = std::string;    // server-assigned, 1-64 bytes of [A-Za-z0-9_-]
using Seq = std::uint64_t;      // per-user inbox position, first event is 1
using TimeMs = std::int64_t;    // unix time in milliseconds

// The largest identifier length, in bytes, for users, devices, nodes,
// message ids and client message ids.
inline constexpr std::size_t kMaxIdBytes = 64;

enum class EventKind : std::uint8_t {
  kMessage = 1,  // a message addressed to the inbox's owner
  kReceipt = 2,  // a status step of a message the inbox's owner sent
  // A group's membership or name changed (courier/group.h): `peer` is who
  // did it, `group` the group, `body` the GroupChange (EncodeGroupChange).
  // Acked like any event; it has no status and produces no receipts.
  kGroupChange = 3,
};

// A message's status only moves forward: sent -> delivered -> read.
enum class MessageStatus : std::uint8_t {
  kSent = 0,
  kDelivered = 1,
  kRead = 2,
};

COURIER_EXPORT std::string_view MessageStatusName(MessageStatus s);  // "sent", "delivered", "read"

// One inbox event, as stored and as streamed to a device.
struct Event {
  Seq seq = 0;
  EventKind kind = EventKind::kMessage;
  MessageId id;     // the message this event is about
  UserId peer;      // kMessage: the sender; kReceipt: the recipient ("by");
                    // kGroupChange: the actor
  std::string body; // kMessage: the body (plaintext above the cipher);
                    // kGroupChange: the encoded GroupChange (never sealed)
  // kReceipt: the step reached. kMessage: always kSent (an event never
  // changes once appended; ask MessageStore::Status for a message's status).
  MessageStatus status = MessageStatus::kSent;
  TimeMs ts = 0;    // kMessage: when stored; kReceipt: when the step happened
  // kMessage sent to a group, and kGroupChange: the group. Empty for a 1:1
  // message and for every receipt (a receipt names the message by `id`; the
  // sender knows which group it went to).
  GroupId group;

  friend bool operator==(const Event&, const Event&) = default;
};

// Validates a user, device or node name: 1-64 bytes of [A-Za-z0-9_.-].
// Returns kInvalidArgument naming `what` otherwise.
COURIER_EXPORT absl::Status ValidateName(std::string_view what, std::string_view name);

// Validates a client message id: 1-64 bytes, any value but NUL.
COURIER_EXPORT absl::Status ValidateClientId(std::string_view cid);

// Validates a message id: 1-64 bytes of [A-Za-z0-9_-] (every store refuses
// others in an append; a read or status lookup of one finds nothing).
COURIER_EXPORT absl::Status ValidateMessageId(std::string_view id);

// True when `text` is well-formed UTF-8 (RFC 3629): no overlong form, no
// surrogate (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
// sequence. The empty string is valid. The one check of the core and the
// adapters (group names, WebSocket text frames, JSON strings); ASCII runs
// are checked eight bytes at a time.
COURIER_EXPORT bool IsValidUtf8(std::string_view text);

// now - span, saturating at the TimeMs range: the cutoff of "older than
// span" (a span reaching past the clock's range means "nothing is older").
COURIER_EXPORT TimeMs TimeBefore(TimeMs now, TimeMs span);

}  // namespace courier

#endif  // COURIER_CORE_TYPES_H_
