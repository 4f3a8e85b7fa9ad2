#include "courier/transport.h"

#include <utility>

namespace courier {

void Transport::SendView(std::span<const FrameRef> frames) {
  if (frames.empty()) return;
  std::vector<ServerFrame> copies;
  copies.reserve(frames.size());
  for (const FrameRef& f : frames) copies.push_back(f.ToFrame());
  Send(std::move(copies));
}

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadFrame: return "bad_frame";
    case ErrorCode::kUnknownOp: return "unknown_op";
    case ErrorCode::kTooLarge: return "too_large";
    case ErrorCode::kNotFriends: return "not_friends";
    case ErrorCode::kUnknownUser: return "unknown_user";
    case ErrorCode::kRateLimited: return "rate_limited";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kBadSeq: return "bad_seq";
    case ErrorCode::kUnauthorized: return "unauthorized";
    case ErrorCode::kQueueFull: return "queue_full";
    case ErrorCode::kUnknownGroup: return "unknown_group";
    case ErrorCode::kNotMember: return "not_member";
    case ErrorCode::kNotAdmin: return "not_admin";
    case ErrorCode::kGroupFull: return "group_full";
    case ErrorCode::kTooManyGroups: return "too_many_groups";
  }
  return "unknown";
}

}  // namespace courier
