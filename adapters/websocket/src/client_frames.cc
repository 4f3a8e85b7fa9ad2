// client_frames.cc: see client_frames.h.
#include "client_frames.h"

#include <utility>
#include <variant>

#include "server_context.h"

namespace courier::websocket::internal {

void SendTimes::Start(const std::string& cid) {
  if (started_.size() < kMaxTimedSends) started_.emplace(cid, Clock::now());
}

std::optional<SendTimes::Clock::duration> SendTimes::Finish(std::string_view cid) {
  if (started_.empty()) return std::nullopt;
  auto it = started_.find(absl::string_view(cid.data(), cid.size()));
  if (it == started_.end()) return std::nullopt;
  const Clock::duration took = Clock::now() - it->second;
  started_.erase(it);
  // An erased table keeps its slots: give them back when none is left.
  if (started_.empty()) decltype(started_)().swap(started_);
  return took;
}

OutFrame ErrorAnswer(const absl::Status& status, Counters& counters) {
  counters.bad_frames.fetch_add(1, std::memory_order_relaxed);
  ErrorFrame error = ToErrorFrame(status);
  std::string cid = error.cid;
  return OutFrame{EncodeServerFrame(error), std::move(cid)};
}

std::optional<OutFrame> ApplyClientFrame(bool text, std::string_view payload,
                                         const CodecLimits& limits, Session& session,
                                         absl::FunctionRef<SendTimes&()> times,
                                         Counters& counters) {
  if (!text) {
    return ErrorAnswer(absl::InvalidArgumentError("frames are JSON text, not binary"), counters);
  }
  absl::StatusOr<ClientFrame> frame = DecodeClientFrame(payload, limits);
  if (!frame.ok()) return ErrorAnswer(frame.status(), counters);
  if (auto* send = std::get_if<SendFrame>(&*frame)) {
    times().Start(send->cid);
    if (send->group.empty()) {
      session.Send(std::move(send->cid), std::move(send->to), std::move(send->body));
    } else {
      session.SendToGroup(std::move(send->cid), std::move(send->group), std::move(send->body));
    }
  } else if (auto* op = std::get_if<GroupOpFrame>(&*frame)) {
    session.ChangeGroup(std::move(op->cid), op->action, std::move(op->group),
                        std::move(op->members), std::move(op->name));
  } else if (auto* list = std::get_if<ListGroupsFrame>(&*frame)) {
    session.ListGroups(std::move(list->cid), std::move(list->group));
  } else if (auto* typing = std::get_if<TypingOpFrame>(&*frame)) {
    session.Typing(std::move(typing->to), std::move(typing->group), typing->on);
  } else if (auto* ack = std::get_if<AckFrame>(&*frame)) {
    session.Ack(ack->seq);
  } else if (auto* read = std::get_if<ReadFrame>(&*frame)) {
    session.Read(std::move(read->ids));
  } else if (std::holds_alternative<PingFrame>(*frame)) {
    return OutFrame{EncodePong(), {}};
  } else {
    return ErrorAnswer(absl::InvalidArgumentError("hello was already accepted on this connection"),
                       counters);
  }
  return std::nullopt;
}

}  // namespace courier::websocket::internal
