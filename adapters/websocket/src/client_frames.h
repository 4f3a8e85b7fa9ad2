// client_frames.h (private): what an open WebSocket connection does with a
// client's data frame, and the timing of its sends.
//
// ApplyClientFrame decodes one data frame of a connection past hello and
// hands it to the engine's Session (send, group ops, acks, read receipts,
// typing); what the connection answers by itself (a pong for a protocol
// `ping`, an `error` for a bad frame) is returned for the session to queue.
// SendTimes keeps, per cid, when a `send` came, until its `sent` or `error`
// leaves (the server's send_latency histogram).
//
// Thread-safety: none; the connection's loop thread.
// Blocking: no (Session's calls do not block).
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_CLIENT_FRAMES_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_CLIENT_FRAMES_H_

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "courier/engine.h"
#include "courier/websocket/frame_codec.h"
#include "outbox.h"

namespace courier::websocket::internal {

struct Counters;

class SendTimes {
 public:
  static constexpr std::size_t kMaxTimedSends = 1024;  // sends timed at once, at most
  using Clock = std::chrono::steady_clock;

  // A send with `cid` came now (ignored beyond kMaxTimedSends in flight).
  void Start(const std::string& cid);
  // Its answer leaves: how long it took, if it was timed.
  std::optional<Clock::duration> Finish(std::string_view cid);
  // No send is being timed.
  bool empty() const { return started_.empty(); }

 private:
  absl::flat_hash_map<std::string, Clock::time_point> started_;
};

// The connection's own answer to a data frame, if any. REQUIRES: hello was
// accepted (`session` is the connection's). Bumps counters.bad_frames for
// a bad frame. `times` gives the connection's SendTimes; called only for a
// `send` (the connection may allocate it then: an ack, a read or a typing
// frame allocates nothing).
std::optional<OutFrame> ApplyClientFrame(bool text, std::string_view payload,
                                         const CodecLimits& limits, Session& session,
                                         absl::FunctionRef<SendTimes&()> times,
                                         Counters& counters);

// The connection's `error` answer for `status` (bumps counters.bad_frames).
OutFrame ErrorAnswer(const absl::Status& status, Counters& counters);

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_CLIENT_FRAMES_H_
