// Tests of courier/websocket/frame_codec.h for groups and typing (issue 17):
// the `group`, `groups` and `typing` ops and `send` to a group, each limit of
// their input, and the exact JSON of `group_event`, `group_ok`, `groups`,
// `typing`, a group `msg` and a `sent` with skipped members.
#include <string>
#include <utility>
#include <vector>

#include "courier/websocket/frame_codec.h"
#include "support/status_matchers.h"

namespace courier::websocket {
namespace {

using ::courier::testing::StatusIs;

template <typename T>
T DecodeAs(std::string_view json, const CodecLimits& limits = {}) {
  absl::StatusOr<ClientFrame> frame = DecodeClientFrame(json, limits);
  COURIER_REQUIRE_OK(frame);
  REQUIRE(std::holds_alternative<T>(*frame));
  return std::get<T>(*std::move(frame));
}

absl::Status DecodeError(std::string_view json, const CodecLimits& limits = {}) {
  return DecodeClientFrame(json, limits).status();
}

Event MakeEvent(Seq seq, EventKind kind, MessageId id, UserId peer, std::string body, TimeMs ts,
                GroupId group) {
  return Event{seq,         kind, std::move(id), std::move(peer), std::move(body),
               MessageStatus::kSent, ts, std::move(group)};
}

// `json` decodes to bad_frame, answered with `cid`.
void CheckBadFrameWithCid(std::string_view json, std::string_view cid) {
  absl::Status st = DecodeError(json);
  REQUIRE_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument));
  ErrorFrame e = ToErrorFrame(st);
  CHECK(e.code == ErrorCode::kBadFrame);
  CHECK(e.cid == cid);
}

// A "members" array of n names u0, u1, ...
std::string MembersJson(std::size_t n) {
  std::string json = "[";
  for (std::size_t i = 0; i < n; ++i) json += (i ? ",\"u" : "\"u") + std::to_string(i) + "\"";
  return json + "]";
}

TEST_CASE("GroupCodec: a send names a user or a group", "[websocket][codec][groups]") {
  SendFrame s = DecodeAs<SendFrame>(R"({"op":"send","cid":"c1","group":"g-1","body":"hi"})");
  CHECK(s.cid == "c1");
  CHECK(s.group == "g-1");
  CHECK(s.to.empty());
  CHECK(s.body == "hi");

  s = DecodeAs<SendFrame>(R"({"op":"send","cid":"c2","to":"bob","body":"x"})");
  CHECK(s.to == "bob");
  CHECK(s.group.empty());

  for (std::string_view text : {
           R"({"op":"send","cid":"c3","to":"bob","group":"g","body":"x"})",
           R"({"op":"send","cid":"c3","body":"x"})",
           R"({"op":"send","cid":"c3","group":5,"body":"x"})",
           R"({"op":"send","cid":"c3","group":null,"body":"x"})",
           R"({"op":"send","cid":"c3","group":"g"})",
       }) {
    INFO("frame: " << text);
    CheckBadFrameWithCid(text, "c3");
  }
  CodecLimits limits;
  limits.max_body_bytes = 2;
  ErrorFrame e = ToErrorFrame(
      DecodeError(R"({"op":"send","cid":"c4","group":"g","body":"abc"})", limits));
  CHECK(e.code == ErrorCode::kTooLarge);
  CHECK(e.cid == "c4");
}

TEST_CASE("GroupCodec: decodes each group action", "[websocket][codec][groups]") {
  GroupOpFrame op = DecodeAs<GroupOpFrame>(
      R"({"op":"group","cid":"k1","action":"create","name":"Trip \u00e9","members":["bob","carol"]})");
  CHECK(op.cid == "k1");
  CHECK(op.action == GroupAction::kCreate);
  CHECK(op.group.empty());
  CHECK(op.members == std::vector<UserId>{"bob", "carol"});
  CHECK(op.name == "Trip \xc3\xa9");

  // create: members optional (absent or empty); a "group" is ignored.
  op = DecodeAs<GroupOpFrame>(R"({"op":"group","cid":"k","action":"create","name":"n"})");
  CHECK(op.members.empty());
  op = DecodeAs<GroupOpFrame>(
      R"({"op":"group","cid":"k","action":"create","name":"n","members":[],"group":"x"})");
  CHECK(op.members.empty());
  CHECK(op.group.empty());

  op = DecodeAs<GroupOpFrame>(R"({"op":"group","cid":"k","action":"add","group":"g","members":["d"]})");
  CHECK(op.action == GroupAction::kAdd);
  CHECK(op.group == "g");
  CHECK(op.members == std::vector<UserId>{"d"});

  op = DecodeAs<GroupOpFrame>(
      R"({"op":"group","cid":"k","action":"remove","group":"g","members":["d","e"]})");
  CHECK(op.action == GroupAction::kRemove);
  CHECK(op.members.size() == 2);

  // leave: members and name are not part of it.
  op = DecodeAs<GroupOpFrame>(
      R"({"op":"group","cid":"k","action":"leave","group":"g","members":["x"],"name":"y"})");
  CHECK(op.action == GroupAction::kLeave);
  CHECK(op.members.empty());
  CHECK(op.name.empty());

  op = DecodeAs<GroupOpFrame>(R"({"op":"group","cid":"k","action":"rename","group":"g","name":"New"})");
  CHECK(op.action == GroupAction::kRename);
  CHECK(op.name == "New");
  CHECK(op.members.empty());
}

TEST_CASE("GroupCodec: a bad group op is bad_frame with its cid", "[websocket][codec][groups]") {
  for (std::string_view text : {
           R"({"op":"group","cid":"k9","name":"n"})",
           R"({"op":"group","cid":"k9","action":"destroy","group":"g"})",
           R"({"op":"group","cid":"k9","action":"CREATE","name":"n"})",
           R"({"op":"group","cid":"k9","action":5,"name":"n"})",
           R"({"op":"group","cid":"k9","action":"create"})",
           R"({"op":"group","cid":"k9","action":"create","name":""})",
           R"({"op":"group","cid":"k9","action":"create","name":7})",
           R"({"op":"group","cid":"k9","action":"create","name":"n","members":"bob"})",
           R"({"op":"group","cid":"k9","action":"create","name":"n","members":["bob",3]})",
           R"({"op":"group","cid":"k9","action":"create","name":"n","members":["bad name"]})",
           R"({"op":"group","cid":"k9","action":"create","name":"n","members":[""]})",
           R"({"op":"group","cid":"k9","action":"add","members":["bob"]})",
           R"({"op":"group","cid":"k9","action":"add","group":"","members":["bob"]})",
           R"({"op":"group","cid":"k9","action":"add","group":"g"})",
           R"({"op":"group","cid":"k9","action":"add","group":"g","members":[]})",
           R"({"op":"group","cid":"k9","action":"remove","group":"g","members":null})",
           R"({"op":"group","cid":"k9","action":"leave"})",
           R"({"op":"group","cid":"k9","action":"leave","group":3})",
           R"({"op":"group","cid":"k9","action":"rename","group":"g"})",
       }) {
    INFO("frame: " << text);
    CheckBadFrameWithCid(text, "k9");
  }
  // Without a valid cid there is no cid to answer with.
  for (std::string_view text : {R"({"op":"group","action":"leave","group":"g"})",
                                R"({"op":"group","cid":"","action":"leave","group":"g"})",
                                R"({"op":"group","cid":7,"action":"leave","group":"g"})"}) {
    INFO("frame: " << text);
    absl::Status st = DecodeError(text);
    REQUIRE_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument));
    CHECK(ToErrorFrame(st).cid.empty());
  }
}

TEST_CASE("GroupCodec: members and name have limits", "[websocket][codec][groups]") {
  auto add = [](std::size_t n) {
    return R"({"op":"group","cid":"k","action":"add","group":"g","members":)" + MembersJson(n) +
           "}";
  };
  CHECK(DecodeAs<GroupOpFrame>(add(1024)).members.size() == 1024);
  absl::Status st = DecodeError(add(1025));
  REQUIRE_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK(ToErrorFrame(st).cid == "k");

  const std::string name128(128, 'n');
  CHECK(DecodeAs<GroupOpFrame>(R"({"op":"group","cid":"k","action":"rename","group":"g","name":")" +
                               name128 + "\"}")
            .name == name128);
  REQUIRE_THAT(DecodeError(R"({"op":"group","cid":"k","action":"rename","group":"g","name":")" +
                           name128 + "n\"}"),
               StatusIs(absl::StatusCode::kInvalidArgument));
  // A member name over 64 bytes is not a name.
  REQUIRE_THAT(DecodeError(R"({"op":"group","cid":"k","action":"add","group":"g","members":[")" +
                           std::string(65, 'u') + "\"]}"),
               StatusIs(absl::StatusCode::kInvalidArgument));

  CodecLimits limits;
  limits.max_group_members = 2;
  limits.max_group_name_bytes = 3;
  CHECK(DecodeAs<GroupOpFrame>(add(2), limits).members.size() == 2);
  REQUIRE_THAT(DecodeError(add(3), limits), StatusIs(absl::StatusCode::kInvalidArgument));
  REQUIRE_THAT(
      DecodeError(R"({"op":"group","cid":"k","action":"create","name":"abcd"})", limits),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("GroupCodec: decodes groups with and without a group", "[websocket][codec][groups]") {
  ListGroupsFrame l = DecodeAs<ListGroupsFrame>(R"({"op":"groups","cid":"q"})");
  CHECK(l.cid == "q");
  CHECK_FALSE(l.group.has_value());
  l = DecodeAs<ListGroupsFrame>(R"({"op":"groups","cid":"q","group":null})");
  CHECK_FALSE(l.group.has_value());
  l = DecodeAs<ListGroupsFrame>(R"({"op":"groups","cid":"q","group":"g7"})");
  REQUIRE(l.group.has_value());
  CHECK(*l.group == "g7");

  REQUIRE_THAT(DecodeError(R"({"op":"groups"})"), StatusIs(absl::StatusCode::kInvalidArgument));
  absl::Status st = DecodeError(R"({"op":"groups","cid":"q","group":["g"]})");
  REQUIRE_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK(ToErrorFrame(st).cid == "q");
  REQUIRE_THAT(DecodeError(R"({"op":"groups","cid":"q","group":""})"),
               StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("GroupCodec: decodes typing to a user or a group", "[websocket][codec][groups]") {
  TypingOpFrame t = DecodeAs<TypingOpFrame>(R"({"op":"typing","to":"bob","on":true})");
  CHECK(t.to == "bob");
  CHECK(t.group.empty());
  CHECK(t.on);
  t = DecodeAs<TypingOpFrame>(R"({"op":"typing","group":"g","on":false})");
  CHECK(t.group == "g");
  CHECK(t.to.empty());
  CHECK_FALSE(t.on);

  for (std::string_view text : {
           R"({"op":"typing","on":true})",
           R"({"op":"typing","to":"bob","group":"g","on":true})",
           R"({"op":"typing","to":"bob"})",
           R"({"op":"typing","to":"bob","on":1})",
           R"({"op":"typing","to":"bob","on":"true"})",
           R"({"op":"typing","to":"bob","on":null})",
           R"({"op":"typing","to":5,"on":true})",
           R"({"op":"typing","to":"","on":true})",
           R"({"op":"typing","group":"","on":true})",
       }) {
    INFO("frame: " << text);
    absl::Status st = DecodeError(text);
    REQUIRE_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument));
    CHECK(ToErrorFrame(st).code == ErrorCode::kBadFrame);
  }
}

TEST_CASE("GroupCodec: encodes a group msg and a sent with skipped", "[websocket][codec][groups]") {
  Event msg = MakeEvent(3, EventKind::kMessage, "m1", "alice", "hi all", 10, "g1");
  CHECK(EncodeServerFrame(EventFrame{msg}) ==
        R"({"op":"msg","seq":3,"id":"m1","from":"alice","body":"hi all","ts":10,"group":"g1"})");

  SentFrame sent{"c1", "m1", 5, false, {"bob", "carol"}};
  CHECK(EncodeServerFrame(sent) ==
        R"({"op":"sent","cid":"c1","id":"m1","ts":5,"skipped":["bob","carol"]})");
  sent.skipped.clear();
  CHECK(EncodeServerFrame(sent) == R"({"op":"sent","cid":"c1","id":"m1","ts":5})");
}

TEST_CASE("GroupCodec: encodes group events of every action", "[websocket][codec][groups]") {
  Event e = MakeEvent(7, EventKind::kGroupChange, "x1", "alice", "", 99, "g1");
  e.body = EncodeGroupChange(GroupChange{GroupAction::kCreate, {"alice", "bob"}, "Trip"});
  CHECK(EncodeServerFrame(EventFrame{e}) ==
        R"({"op":"group_event","seq":7,"id":"x1","group":"g1","by":"alice","action":"create",)"
        R"("members":["alice","bob"],"name":"Trip","ts":99})");
  e.body = EncodeGroupChange(GroupChange{GroupAction::kAdd, {"carol"}, ""});
  CHECK(EncodeServerFrame(EventFrame{e}) ==
        R"({"op":"group_event","seq":7,"id":"x1","group":"g1","by":"alice","action":"add",)"
        R"("members":["carol"],"ts":99})");
  e.body = EncodeGroupChange(GroupChange{GroupAction::kRemove, {"carol"}, ""});
  CHECK(EncodeServerFrame(EventFrame{e}).find(R"("action":"remove","members":["carol"],"ts")") !=
        std::string::npos);
  e.body = EncodeGroupChange(GroupChange{GroupAction::kLeave, {"alice", "bob"}, ""});
  CHECK(EncodeServerFrame(EventFrame{e}).find(R"("action":"leave","members":["alice","bob"],"ts")") !=
        std::string::npos);
  e.body = EncodeGroupChange(GroupChange{GroupAction::kRename, {}, "New \"name\""});
  CHECK(EncodeServerFrame(EventFrame{e}) ==
        R"({"op":"group_event","seq":7,"id":"x1","group":"g1","by":"alice","action":"rename",)"
        R"("members":[],"name":"New \"name\"","ts":99})");
}

TEST_CASE("GroupCodec: a group event whose body does not decode is still written",
          "[websocket][codec][groups]") {
  Event e = MakeEvent(8, EventKind::kGroupChange, "x2", "bob", "", 1, "g2");
  const std::string good = EncodeGroupChange(GroupChange{GroupAction::kAdd, {"carol"}, ""});
  for (std::string body : {std::string(), std::string("garbage"), std::string("\xff\x00\x01", 3),
                           good.substr(0, good.size() - 1), good + "x"}) {
    e.body = body;
    CHECK(EncodeServerFrame(EventFrame{e}) ==
          R"({"op":"group_event","seq":8,"id":"x2","group":"g2","by":"bob","members":[],"ts":1})");
  }
}

TEST_CASE("GroupCodec: encodes group_ok, groups and typing", "[websocket][codec][groups]") {
  CHECK(EncodeServerFrame(GroupOkFrame{"k1", "g1", true, false, 3}) ==
        R"({"op":"group_ok","cid":"k1","group":"g1","changed":true,"version":3})");
  CHECK(EncodeServerFrame(GroupOkFrame{"k1", "g1", false, true, 1}) ==
        R"({"op":"group_ok","cid":"k1","group":"g1","changed":false,"version":1,"dup":true})");

  GroupRecord g;
  g.id = "g1";
  g.name = "Trip";
  g.created_by = "alice";
  g.created = 100;
  g.version = 2;
  g.members = {{"alice", GroupRole::kAdmin, 100}, {"bob", GroupRole::kMember, 150}};
  CHECK(EncodeServerFrame(GroupsFrame{"q", {g}}) ==
        R"({"op":"groups","cid":"q","groups":[{"group":"g1","name":"Trip","created_by":"alice",)"
        R"("created":100,"version":2,"members":[{"user":"alice","role":"admin","since":100},)"
        R"({"user":"bob","role":"member","since":150}]}]})");
  CHECK(EncodeServerFrame(GroupsFrame{"q", {}}) == R"({"op":"groups","cid":"q","groups":[]})");

  CHECK(EncodeServerFrame(TypingFrame{"bob", "", true, 6000}) ==
        R"({"op":"typing","from":"bob","on":true,"ttl_ms":6000})");
  CHECK(EncodeServerFrame(TypingFrame{"bob", "g1", false, 6000}) ==
        R"({"op":"typing","from":"bob","on":false,"ttl_ms":6000,"group":"g1"})");
}

TEST_CASE("GroupCodec: every group error code has its protocol name", "[websocket][codec][groups]") {
  const std::pair<ErrorCode, std::string_view> names[] = {
      {ErrorCode::kUnknownGroup, "unknown_group"}, {ErrorCode::kNotMember, "not_member"},
      {ErrorCode::kNotAdmin, "not_admin"},         {ErrorCode::kGroupFull, "group_full"},
      {ErrorCode::kTooManyGroups, "too_many_groups"},
  };
  for (const auto& [code, name] : names) {
    ErrorFrame e;
    e.code = code;
    e.cid = "k";
    std::string json = EncodeServerFrame(e);
    INFO(json);
    CHECK(json.find("\"code\":\"" + std::string(name) + "\"") != std::string::npos);
  }
}

}  // namespace
}  // namespace courier::websocket
