// courier/transport.h: the engine's view of one connected device.
//
// A transport adapter (courier::websocket, the test transport
// memory::RecordingTransport in courier/memory.h) creates one Transport per
// connection and hands it to Engine::Connect. The engine pushes server
// frames through it; the adapter encodes them (docs/PROTOCOL.md's JSON for the WebSocket adapter).
//
// Ownership: shared between the adapter and the engine (std::shared_ptr); the
//   engine drops its reference when the session closes.
// Thread-safety: the engine calls Send/SendView/Close for one session from
//   one thread at a time, in order (it serializes them under the session's
//   lock); the adapter must make them safe against its own threads.
// Blocking: Send, SendView and Close return at once. They never call back into the
//   engine inside the call. The adapter queues; when its queue for this
//   connection exceeds its limit it closes the connection (a slow reader
//   never makes the server buffer without bound).
#ifndef COURIER_CORE_TRANSPORT_H_
#define COURIER_CORE_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "courier/executor.h"
#include "courier/export.h"
#include "courier/group.h"
#include "courier/types.h"

namespace courier {

// docs/PROTOCOL.md's error codes.
enum class ErrorCode : std::uint8_t {
  kBadFrame,
  kUnknownOp,
  kTooLarge,
  kNotFriends,
  kUnknownUser,
  kRateLimited,
  kUnavailable,
  kBadSeq,
  kUnauthorized,
  kQueueFull,
  // Groups (courier/group.h's GroupError, one to one).
  kUnknownGroup,
  kNotMember,
  kNotAdmin,
  kGroupFull,
  kTooManyGroups,
};
COURIER_EXPORT std::string_view ErrorCodeName(ErrorCode code);  // "bad_frame", ...

// docs/PROTOCOL.md's close codes.
enum class CloseCode : std::uint16_t {
  kGoingAway = 1001,     // server shutting down
  kPolicy = 1008,        // the client does not read fast enough
  kTooBig = 1009,        // frame over the size limit
  kUnauthorized = 4401,  // no or bad hello, bad or expired token
  kIdle = 4408,          // no frame for the idle timeout
  kReplaced = 4409,      // the same device connected again elsewhere
};

struct WelcomeFrame {
  UserId user;
  DeviceId device;
  Seq cursor = 0;
  Seq head = 0;
};
struct SentFrame {
  std::string cid;
  MessageId id;
  TimeMs ts = 0;
  bool duplicate = false;
  // A send to a group: members whose inbox was full and did not get it
  // (every other member did). Always empty for a 1:1 send.
  std::vector<UserId> skipped{};
};
struct EventFrame {  // "msg", "receipt" or "group_event" depending on event.kind
  Event event;
};
// The answer to a group change (Session::ChangeGroup): the op was stored, or
// changed nothing (changed = false); the change event itself arrives in the
// inbox of every member concerned, this user's included.
struct GroupOkFrame {
  std::string cid;
  GroupId group;
  bool changed = false;
  // A repeated create (same user and cid) of a group that exists: answered
  // with that group, nothing stored.
  bool duplicate = false;
  std::uint64_t version = 0;  // the record's version after the op (0: deleted)
};
// The answer to Session::ListGroups: the groups asked for.
struct GroupsFrame {
  std::string cid;
  std::vector<GroupRecord> groups;
};
// Someone started or stopped typing to this user (or in a group of theirs).
// Never stored; `on` lasts ttl_ms unless refreshed (the client expires it).
struct TypingFrame {
  UserId from;
  GroupId group;  // empty: typing to this user in a 1:1 chat
  bool on = false;
  TimeMs ttl_ms = 0;
};
struct PresenceFrame {
  UserId user;
  bool online = false;
  std::optional<TimeMs> last_seen;
};
struct SyncedFrame {
  Seq seq = 0;
};
struct ErrorFrame {
  ErrorCode code = ErrorCode::kBadFrame;
  std::string message;
  std::string cid;  // empty when not about a send
  std::optional<std::int64_t> retry_after_ms;
};

using ServerFrame =
    std::variant<WelcomeFrame, SentFrame, EventFrame, PresenceFrame, SyncedFrame, ErrorFrame,
                 GroupOkFrame, GroupsFrame, TypingFrame>;

// One frame of a Transport::SendView, borrowed: a ServerFrame, or an inbox
// event sent as its EventFrame without being copied into one. Holds a
// pointer only; the frame or event must outlive the SendView call that
// takes it (the adapter encodes or copies it inside the call).
class FrameRef {
 public:
  FrameRef(const ServerFrame& frame) : frame_(&frame) {}  // NOLINT: implicit by design
  FrameRef(const Event& event) : event_(&event) {}        // NOLINT: as EventFrame{event}
  // Exactly one of these is non-null.
  const ServerFrame* frame() const { return frame_; }
  const Event* event() const { return event_; }
  // The cid this frame answers: a `sent`'s, or an `error`'s (may be empty);
  // empty for every other frame.
  std::string_view answers_cid() const {
    if (frame_ == nullptr) return {};
    if (const auto* sent = std::get_if<SentFrame>(frame_)) return sent->cid;
    if (const auto* error = std::get_if<ErrorFrame>(frame_)) return error->cid;
    return {};
  }
  // A copy as an owned ServerFrame (what the default SendView hands Send).
  ServerFrame ToFrame() const { return frame_ != nullptr ? *frame_ : EventFrame{*event_}; }

 private:
  const ServerFrame* frame_ = nullptr;
  const Event* event_ = nullptr;
};

class COURIER_EXPORT Transport {
 public:
  Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  virtual ~Transport() = default;

  // Queues `frames` for the device, in order. Several frames in one call let
  // the adapter write them with one system call.
  virtual void Send(std::vector<ServerFrame> frames) = 0;

  // The same as Send(frames), with the frames borrowed for the call: the
  // engine sends through this (one frame or a fetched page, with no
  // std::vector<ServerFrame> and no copy of an Event per delivered event),
  // so that an adapter can encode each frame straight into its connection's
  // write buffer. Same thread-safety, order and blocking as Send: in order
  // with Send and Close, from one thread at a time. The references are
  // valid only until it returns; an adapter that keeps a frame copies or
  // encodes it first. The default copies the frames into a vector and
  // calls Send, so a transport that overrides only Send keeps working.
  // An empty `frames` does nothing.
  virtual void SendView(std::span<const FrameRef> frames);

  // Closes the connection with `code` after the frames already queued.
  // Later Sends are dropped. Idempotent.
  virtual void Close(CloseCode code, std::string_view reason) = 0;

  // The thread that owns this connection, as an executor, or null (the
  // default). When given, the engine runs there the results of this
  // device's writes (`sent`, errors, the window opened by an ack) and hands
  // it, there, the events committed on this node for its inbox; Send is then
  // mostly called on the adapter's own thread, where it can queue without a
  // lock or a wake-up. Null: all of that runs on the engine's delivery
  // executor. Called once, by Engine::Connect. The executor must accept
  // Posts for as long as the engine holds it; a task it destroys unrun (its
  // loop gone) is not lost: the engine runs that work on its delivery
  // executor instead.
  virtual std::shared_ptr<Executor> executor() const { return nullptr; }
};

}  // namespace courier

#endif  // COURIER_CORE_TRANSPORT_H_
