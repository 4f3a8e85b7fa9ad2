// courier/websocket/frame_codec.h: docs/PROTOCOL.md's JSON frames <-> typed frames.
//
// DecodeClientFrame turns one text frame from a client into a ClientFrame,
// checking every field's type and every limit; EncodeServerFrame turns a
// ServerFrame (courier/transport.h) into the JSON a client reads. Both are
// pure functions over their arguments, so fuzz targets and tests call them
// directly, and the WebSocket session only moves bytes.
//
// Decoding errors carry the code the client is answered with:
//   kInvalidArgument -> "bad_frame"  (not JSON, invalid UTF-8, not an object,
//                                     no or non-string "op", a missing field
//                                     or one of the wrong type, nesting too
//                                     deep, a bad cid or id)
//   kUnimplemented   -> "unknown_op" (a string "op" that is no client op)
//   kOutOfRange      -> "too_large"  (a body over max_body_bytes, more than
//                                     max_read_ids ids)
// The group ops (`group`, `groups`, `typing`, `send` with `group`) answer
// every bad input with "bad_frame": an unknown action, a members array over
// max_group_members or holding anything but valid names, a name over
// max_group_name_bytes, an `on` that is not a bool, both or neither of
// `to` and `group`.
// When the error is about a send or a group op whose cid is valid, the cid
// rides along as a status payload; ToErrorFrame() builds the answer with it.
//
// Ownership: values in, values out; nothing is retained (EncodeServerFrameView
//   returns a view of a per-thread buffer, see there).
// Thread-safety: every function here is safe to call concurrently.
// Blocking: nothing here blocks.
#ifndef COURIER_ADAPTERS_WEBSOCKET_FRAME_CODEC_H_
#define COURIER_ADAPTERS_WEBSOCKET_FRAME_CODEC_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "courier/export.h"
#include "courier/group.h"
#include "courier/transport.h"
#include "courier/types.h"

namespace courier::websocket {

// Limits applied while decoding. Defaults match courier::Limits.
struct CodecLimits {
  std::size_t max_body_bytes = 64 * 1024;  // "body" of a send, decoded bytes
  std::size_t max_read_ids = 1000;         // "ids" of a read
  std::size_t max_depth = 16;              // nesting of objects and arrays
  // "members" of a group op: at most this many names (courier::kMaxGroupMembers).
  std::size_t max_group_members = kMaxGroupMembers;
  std::size_t max_group_name_bytes = 128;  // "name" of a group op, 1..this many bytes
};

struct HelloFrame {
  std::string token;
  DeviceId device;            // a valid name (1-64 of [A-Za-z0-9_.-])
  std::optional<Seq> since;   // absent: resume from the stored cursor
};
struct SendFrame {
  std::string cid;  // 1-64 bytes, no NUL
  UserId to;        // any string; the engine validates the name. Empty for a group send
  std::string body; // at most max_body_bytes
  GroupId group;    // a send to a group (then `to` is empty); any string, the engine validates
};
struct AckFrame {
  Seq seq = 0;
};
struct ReadFrame {
  std::vector<MessageId> ids;  // 1..max_read_ids ids of 1-64 bytes
};
struct PingFrame {};
// op "group": a change of a group (Session::ChangeGroup).
struct GroupOpFrame {
  std::string cid;               // 1-64 bytes, no NUL
  GroupAction action = GroupAction::kCreate;
  GroupId group;                 // empty for kCreate; else any non-empty string
  std::vector<UserId> members;   // kCreate (optional), kAdd, kRemove (1..max_group_members
                                 // valid names); empty for kLeave, kRename
  std::string name;              // kCreate, kRename: 1..max_group_name_bytes bytes
};
// op "groups": list my groups, or one (Session::ListGroups).
struct ListGroupsFrame {
  std::string cid;
  std::optional<GroupId> group;
};
// op "typing": started or stopped typing (Session::Typing). Exactly one of
// `to` and `group` is set.
struct TypingOpFrame {
  UserId to;
  GroupId group;
  bool on = false;
};

using ClientFrame = std::variant<HelloFrame, SendFrame, AckFrame, ReadFrame, PingFrame,
                                 GroupOpFrame, ListGroupsFrame, TypingOpFrame>;

// Decodes one client frame. See the file comment for the error codes.
COURIER_EXPORT absl::StatusOr<ClientFrame> DecodeClientFrame(std::string_view json,
                                              const CodecLimits& limits = {});

// The protocol error code for a DecodeClientFrame error (bad_frame for any
// code not listed in the file comment).
COURIER_EXPORT ErrorCode DecodeErrorCode(const absl::Status& status);

// The error frame that answers a failed decode: code, message, and the cid
// when the failed frame was a send with a valid cid.
COURIER_EXPORT ErrorFrame ToErrorFrame(const absl::Status& status);

// docs/PROTOCOL.md's JSON for `frame`: "msg", "receipt" or "group_event" by
// the event's kind, status names, "last_seen": null when unknown, "dup": true
// only for a duplicate, "cid" and "retry_after_ms" on errors only when set,
// "group" on a msg and a typing frame only when set, "skipped" on sent only
// when non-empty. A group_event whose body does not decode (DecodeGroupChange)
// is written without "action" and with empty "members", never refused.
COURIER_EXPORT std::string EncodeServerFrame(const ServerFrame& frame);

// The same JSON for a borrowed frame (courier/transport.h's FrameRef: a
// ServerFrame, or an Event as its EventFrame), written into a buffer of the
// calling thread that is reused from call to call: no heap allocation once
// it has grown to the frames' size (one that held a frame over 64 KB gives
// its memory back at the next call). What a transport copies straight into
// its write buffer. The view is valid until the next EncodeServerFrame or
// EncodeServerFrameView call on the same thread.
COURIER_EXPORT std::string_view EncodeServerFrameView(const FrameRef& frame);

// {"op":"pong"}
COURIER_EXPORT std::string EncodePong();

}  // namespace courier::websocket

#endif  // COURIER_ADAPTERS_WEBSOCKET_FRAME_CODEC_H_
