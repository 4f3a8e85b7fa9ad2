// What one idle WebSocket connection costs in the server's memory, by part,
// with a bound for each: a change that makes a connection bigger fails here
// and is then accounted for in bench/README.md's per-connection table (W4
// measures the whole, RSS, on a real server).
#include <catch2/catch.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "device_session.h"
#include "websocket_session.h"

namespace courier::websocket::internal {
namespace {

namespace net = boost::asio;
using PlainSession = WebSocketSession<PlainSocket>;

// glibc's malloc: a chunk is the request plus 8 bytes, rounded up to 16,
// at least 32.
std::size_t MallocChunk(std::size_t bytes) {
  const std::size_t chunk = (bytes + 8 + 15) / 16 * 16;
  return chunk < 32 ? 32 : chunk;
}

TEST_CASE("An idle plain WebSocket connection stays within its memory budget", "[websocket]") {
  // The session object, as std::make_shared allocates it (its control
  // block, two counts and a vtable pointer, beside it).
  const std::size_t session = sizeof(PlainSession) + 16;
  // Its fields, by part.
  const std::size_t socket = sizeof(PlainSocket);
  const std::size_t reader = sizeof(FrameReader);
  const std::size_t write_path = sizeof(WritePath);
  // The carry (unparsed bytes for the next read): a pointer, its block
  // allocated only while bytes wait (not held by an idle connection).
  const std::size_t strings = sizeof(LazyBuffer);
  // The block of the rarely used parts (the handshakes' bytes, the answers
  // held until welcome, the send-time table): not held by an idle
  // connection, so not in the total.
  const std::size_t rare = PlainSession::RareBytes();
  const std::size_t deadline = sizeof(Deadline);        // its place on the loop's timer
  // Asio's per-socket reactor state (epoll_reactor::descriptor_state),
  // allocated by the reactor for each open socket.
  const std::size_t reactor = sizeof(net::detail::epoll_reactor::descriptor_state);
  // The wait for readiness: the connection's slot in its loop's readiness
  // set (an array, no heap chunk of its own; no Asio operation in flight).
  const std::size_t readiness_slot = PlainSession::PendingReadBytes();
  // The connection's slot of its loop's deadline heap (no timer of its own).
  const std::size_t heap_slot = sizeof(LoopDeadlines::Slot);
  // The engine's session for the device, and the transport it is given.
  const std::size_t device_session = sizeof(courier::internal::DeviceSession) + 16;
  const std::size_t transport = WebSocketTransportBytes();
  // No per-user table of the server's own: Server::CloseSessions and
  // OpenDevices find a user's connections through the engine's sessions.

  std::printf(
      "connection memory (bytes): session object %zu [socket %zu, frame reader %zu, write path "
      "%zu, strings %zu, deadline %zu; rare block while used %zu], reactor descriptor %zu, readiness slot %zu, "
      "deadline heap slot %zu, DeviceSession %zu, transport %zu\n",
      session, socket, reader, write_path, strings, deadline, rare, reactor, readiness_slot,
      heap_slot, device_session, transport);
  const std::size_t total = MallocChunk(session) + MallocChunk(reactor) +
                            readiness_slot + heap_slot + MallocChunk(device_session) +
                            MallocChunk(transport);
  std::printf("connection memory (bytes): heap chunks of these parts %zu\n", total);

  // 240 is a tcmalloc size class (256 before, 280 was 288, 296 was 320):
  // the server context is the loop's, the frame reader's broken reason a
  // literal's pointer, the link state in the write path's tail, and the
  // transport is held by the engine's session alone.
  CHECK(session <= 240);
  CHECK(socket <= 48);
  CHECK(reader <= 48);  // its message buffer a LazyBuffer too
  CHECK(write_path <= 16);  // a pointer and flags: the counts are in its block
  CHECK(strings <= 8);
  CHECK(deadline <= 24);
  CHECK(rare <= 160);
  CHECK(reactor <= 256);
  CHECK(readiness_slot <= 32);
  CHECK(heap_slot <= 16);
  CHECK(transport <= 56);
  // The engine's part is the engine's (core/src/device_session.h, which
  // static_asserts its size too); bounded here so that this table notices
  // when it moves. 176 is a tcmalloc size class (192 before, 216 was
  // 224): the user and device names are NameKeys (no heap block for a name
  // of up to 23 bytes), the client's `since` waits in the stream position,
  // the transport's executor is asked of the transport when needed.
  CHECK(device_session <= 176);
}

}  // namespace
}  // namespace courier::websocket::internal
