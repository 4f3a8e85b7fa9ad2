// frame_encode.h (private): a server frame's JSON through a per-thread
// scratch buffer, for the write path to copy straight into a connection's
// write buffer (no std::string per frame).
//
// Ownership: the returned view points into the calling thread's scratch.
// Thread-safety: any thread; each thread has its own scratch.
// Blocking: no.
#ifndef COURIER_ADAPTERS_WEBSOCKET_SRC_FRAME_ENCODE_H_
#define COURIER_ADAPTERS_WEBSOCKET_SRC_FRAME_ENCODE_H_

#include <cstddef>
#include <string_view>

#include "courier/export.h"
#include "courier/transport.h"

namespace courier::websocket::internal {

// A scratch buffer that held a frame larger than this gives its memory back
// at the next call (a group listing or a large body does not stay pinned).
inline constexpr std::size_t kMaxKeptScratchBytes = 64 * 1024;

// `frame`'s JSON, exactly as EncodeServerFrame writes it (frame_codec.h).
// The view is valid until the next call on this thread. No heap allocation
// once the thread's scratch has grown to the frames' size.
// (Exported: the codec and the WebSocket library may be separate shared
// libraries.)
COURIER_EXPORT std::string_view EncodeServerFrameScratch(const FrameRef& frame);

}  // namespace courier::websocket::internal

#endif  // COURIER_ADAPTERS_WEBSOCKET_SRC_FRAME_ENCODE_H_
