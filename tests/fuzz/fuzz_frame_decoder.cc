// fuzz_frame_decoder: courier::websocket::DecodeClientFrame on any bytes.
//
// Beyond "no crash, no sanitizer report", every accepted frame must respect
// the codec's limits, and every string it hands on must be UTF-8 that the
// encoder can send back in a text frame: a decoded send body, echoed as a
// `msg` event, must parse again (RapidJSON, UTF-8 validated) to the same
// body, and a decoded cid must survive the `sent` answer the same way. The
// group ops (issue 17) keep their limits too: a send names a user or a group,
// never both; a group op's members are 1..max_group_members valid names and
// its name 1..max_group_name_bytes bytes, and both come back out of a
// `group_event`; a typing op names exactly one peer. The input bytes are also
// a group_event's stored body: one that does not decode must still encode.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "courier/websocket/frame_codec.h"
#include "fuzz_check.h"
#include "rapidjson/document.h"

namespace {

using courier::websocket::CodecLimits;

// The string `field` of the JSON object `json`, parsed with UTF-8 validation.
bool FieldRoundTrips(const std::string& json, const char* field, const std::string& want) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  if (!doc.HasMember(field) || !doc[field].IsString()) return false;
  const rapidjson::Value& v = doc[field];
  return std::string_view(v.GetString(), v.GetStringLength()) == want;
}

// A kGroupChange event with `body` (built in one go: GCC 12 reads short
// string assignments here as overlapping copies, -Wrestrict).
courier::Event GroupEvent(std::string body) {
  return courier::Event{1,       courier::EventKind::kGroupChange, "x", "alice", std::move(body),
                        courier::MessageStatus::kSent, 0, "g"};
}

// The limits of a decoded group op, and its members and name coming back
// out of the group_event that would tell of it.
void CheckGroupOp(const courier::websocket::GroupOpFrame& op, const CodecLimits& limits) {
  using courier::GroupAction;
  FUZZ_CHECK(op.members.size() <= limits.max_group_members, "%zu members accepted",
             op.members.size());
  for (const auto& m : op.members) {
    FUZZ_CHECK(courier::ValidateName("member", m).ok(), "bad member name accepted");
  }
  const bool named = op.action == GroupAction::kCreate || op.action == GroupAction::kRename;
  FUZZ_CHECK(named == !op.name.empty(), "name presence does not match the action");
  FUZZ_CHECK(op.name.size() <= limits.max_group_name_bytes, "name of %zu bytes accepted",
             op.name.size());
  FUZZ_CHECK((op.action == GroupAction::kCreate) == op.group.empty(),
             "group presence does not match the action");
  if (op.action == GroupAction::kAdd || op.action == GroupAction::kRemove) {
    FUZZ_CHECK(!op.members.empty(), "add/remove without members accepted");
  }
  std::string json = courier::websocket::EncodeServerFrame(courier::EventFrame{GroupEvent(
      courier::EncodeGroupChange(courier::GroupChange{op.action, op.members, op.name}))});
  if (named) {
    FUZZ_CHECK(FieldRoundTrips(json, "name", op.name), "a group name does not come back: %s",
               json.c_str());
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  FUZZ_CHECK(!doc.HasParseError() && doc.IsObject() && doc.HasMember("members") &&
                 doc["members"].IsArray() && doc["members"].Size() == op.members.size(),
             "group_event members do not match: %s", json.c_str());
}

// Any bytes as a stored group change body: encoded, never refused.
void CheckGroupEventBody(std::string_view bytes) {
  std::string json = courier::websocket::EncodeServerFrame(
      courier::EventFrame{GroupEvent(std::string(bytes))});
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  FUZZ_CHECK(!doc.HasParseError() && doc.IsObject() && doc.HasMember("members") &&
                 doc["members"].IsArray(),
             "group_event of a stored body is not valid JSON: %s", json.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  CodecLimits limits;
  limits.max_body_bytes = 4096;
  limits.max_read_ids = 8;
  limits.max_depth = 6;
  limits.max_group_members = 8;
  limits.max_group_name_bytes = 16;
  CheckGroupEventBody(json);
  auto frame = courier::websocket::DecodeClientFrame(json, limits);
  if (!frame.ok()) {
    // Every refusal maps to a protocol error frame without crashing.
    courier::ErrorFrame e = courier::websocket::ToErrorFrame(frame.status());
    std::string out = courier::websocket::EncodeServerFrame(e);
    FUZZ_CHECK(!out.empty(), "empty error frame");
    return 0;
  }
  if (auto* send = std::get_if<courier::websocket::SendFrame>(&*frame)) {
    FUZZ_CHECK(send->body.size() <= limits.max_body_bytes, "body of %zu bytes accepted",
               send->body.size());
    FUZZ_CHECK(!send->cid.empty() && send->cid.size() <= courier::kMaxIdBytes,
               "cid of %zu bytes accepted", send->cid.size());
    courier::Event e;
    e.seq = 1;
    e.id = "id";
    e.peer = "alice";
    e.body = send->body;
    std::string msg = courier::websocket::EncodeServerFrame(courier::EventFrame{e});
    FUZZ_CHECK(FieldRoundTrips(msg, "body", send->body),
               "a decoded body does not come back out as UTF-8 JSON: %s", msg.c_str());
    std::string sent = courier::websocket::EncodeServerFrame(
        courier::SentFrame{send->cid, "id", 1, false, {}});
    FUZZ_CHECK(FieldRoundTrips(sent, "cid", send->cid),
               "a decoded cid does not come back out as UTF-8 JSON: %s", sent.c_str());
  } else if (auto* read = std::get_if<courier::websocket::ReadFrame>(&*frame)) {
    FUZZ_CHECK(!read->ids.empty() && read->ids.size() <= limits.max_read_ids,
               "read of %zu ids accepted", read->ids.size());
    for (const auto& id : read->ids) {
      FUZZ_CHECK(!id.empty() && id.size() <= courier::kMaxIdBytes, "id of %zu bytes",
                 id.size());
    }
  } else if (auto* hello = std::get_if<courier::websocket::HelloFrame>(&*frame)) {
    FUZZ_CHECK(courier::ValidateName("device", hello->device).ok(), "bad device accepted");
  } else if (auto* op = std::get_if<courier::websocket::GroupOpFrame>(&*frame)) {
    CheckGroupOp(*op, limits);
  } else if (auto* typing = std::get_if<courier::websocket::TypingOpFrame>(&*frame)) {
    FUZZ_CHECK(typing->to.empty() != typing->group.empty(), "typing names %s",
               typing->to.empty() ? "no peer" : "two peers");
  } else if (auto* list = std::get_if<courier::websocket::ListGroupsFrame>(&*frame)) {
    FUZZ_CHECK(!list->cid.empty() && list->cid.size() <= courier::kMaxIdBytes,
               "cid of %zu bytes accepted", list->cid.size());
    FUZZ_CHECK(!list->group.has_value() || !list->group->empty(), "empty group accepted");
  }
  return 0;
}
