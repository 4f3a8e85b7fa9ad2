// link_state.h (private): the close/link state machine of one WebSocket
// connection, in one place.
//
// The connection's life is one LinkState plus what is known of the peer's
// side of the stream (PeerSide). The transitions, in the order they can
// happen (any state may end in kFinished when the socket fails, a guard
// deadline passes or the peer's TCP goes):
//
//   kAccepting     writing the 101 answer; the guard deadline runs
//                  (http_timeout)                        -> kAwaitingHello
//   kAwaitingHello the first frame must be hello; the hello deadline runs
//                                                        -> kOpen (hello accepted)
//   kOpen          frames flow both ways; the idle deadline runs
//   (any of the three) -- BeginClose: we, the engine, the admin API or the
//                  peer decided to close; the guard deadline runs
//                  (close_timeout) --                    -> kClosing
//   kClosing       our close frame waits for the queue (drain) or for the
//                  write in flight                       -> kCloseWriting
//   kCloseWriting  our close frame is being written      -> kCloseSent, or, when
//                  the peer closed first or broke the framing, the shutdown
//   kCloseSent     frames that come are dropped unread until the peer's
//                  close frame                           -> the shutdown
//   kShutdown      TLS: close_notify under way (plain TCP goes straight on)
//   kFinished      the socket is closed, Session::Disconnect was called.
//
// PeerSide: kReading until the peer's close frame (kClosed: nothing may
// follow it) or a framing error (kBroken, 1002: TCP is dropped right after
// our close frame, since the stream cannot be parsed any further).
//
// Thread-safety: a value; the connection's loop thread owns it.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_LINK_STATE_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_LINK_STATE_H_

#include <cstdint>

namespace courier::websocket::internal {

enum class LinkState : std::uint8_t {
  kAccepting,
  kAwaitingHello,
  kOpen,
  kClosing,
  kCloseWriting,
  kCloseSent,
  kShutdown,
  kFinished,
};

enum class PeerSide : std::uint8_t {
  kReading,  // we parse what it sends
  kClosed,   // its close frame came: nothing may follow
  kBroken,   // it broke the framing rules (1002): drop TCP after our close frame
};

// The connection and what is known of its peer.
struct Link {
  LinkState state = LinkState::kAccepting;
  PeerSide peer = PeerSide::kReading;

  // A close has begun (ours, the engine's or the peer's): no new frame is
  // queued, no new close begins.
  bool closing() const { return state >= LinkState::kClosing; }
  bool finished() const { return state == LinkState::kFinished; }
  // What the peer sends is still parsed.
  bool reading() const { return state != LinkState::kFinished && peer == PeerSide::kReading; }
  // Queued frames may still be written: not closing, or closing with the
  // queue drained first (kClosing; from kCloseWriting on only our close
  // frame is written).
  bool may_write_queue() const { return !closing() || state == LinkState::kClosing; }
};

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_LINK_STATE_H_
