// frame_codec.cc: docs/PROTOCOL.md's JSON through RapidJSON.
//
// Parsing is iterative (no recursion on hostile nesting), validates UTF-8,
// and counts depth while it builds the document, so a deep frame stops at
// max_depth instead of growing a tree. Encoding goes through rapidjson::Writer,
// which escapes every string.
#include "courier/websocket/frame_codec.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "courier/status.h"
#include "courier/types.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace courier::websocket {
namespace {

constexpr absl::string_view kCidPayload = "courier.websocket.cid";

// EncodeServerFrameView's buffer: one that held a frame larger than this
// gives its memory back at the next call.
constexpr std::size_t kMaxKeptScratchBytes = 64 * 1024;

// The parsed tree's values and the parser's and builder's stacks all come
// from pools over per-thread buffers (DecodeScratch), so that decoding a
// frame of ordinary size allocates nothing but the decoded frame's strings.
using Pool = rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator>;
using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, Pool, Pool>;
using Reader = rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, Pool>;

// Forwards SAX events to a Document while refusing nesting past `max_depth`
// and strings that are not UTF-8 once their escapes are decoded. (The reader
// validates the raw frame, but a \u escape of a lone low surrogate ("\udc00")
// decodes to the bytes ED B0 80, which no client could read back in a text
// frame.)
class DepthLimitedBuilder {
 public:
  DepthLimitedBuilder(Document& doc, std::size_t max_depth)
      : doc_(doc), max_depth_(max_depth) {}

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(std::int64_t i) { return doc_.Int64(i); }
  bool Uint64(std::uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return IsValidUtf8(std::string_view(s, n)) && doc_.String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    return IsValidUtf8(std::string_view(s, n)) && doc_.Key(s, n, copy);
  }
  bool StartObject() { return Enter() && doc_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndObject(n);
  }
  bool StartArray() { return Enter() && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndArray(n);
  }

  bool too_deep() const { return too_deep_; }

 private:
  bool Enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }

  Document& doc_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
};

// The generator that Document::Populate runs.
struct Parse {
  std::string_view json;
  std::size_t max_depth;
  rapidjson::ParseResult result;
  bool too_deep = false;

  Pool& reader_stack;

  bool operator()(Document& doc) {
    DepthLimitedBuilder builder(doc, max_depth);
    rapidjson::MemoryStream stream(json.data(), json.size());
    Reader reader(&reader_stack);
    result = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
        stream, builder);
    too_deep = builder.too_deep();
    return !result.IsError();
  }
};

// Bookworm's absl::string_view is its own type, not std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status BadFrame(absl::string_view what) { return absl::InvalidArgumentError(what); }

// Per thread: the buffers DecodeClientFrame parses into. A frame larger
// than they hold takes chunks from the heap, freed once it is decoded.
struct DecodeScratch {
  static constexpr std::size_t kValueBytes = 16 * 1024;
  static constexpr std::size_t kStackBytes = 4 * 1024;
  static constexpr std::size_t kChunkBytes = 64 * 1024;  // beyond the buffers

  // Empties the pools (frees any chunk beyond the buffers) when it goes.
  struct Reset {
    DecodeScratch& s;
    explicit Reset(DecodeScratch& scratch) : s(scratch) { Clear(); }
    ~Reset() { Clear(); }
    void Clear() {
      s.values.Clear();
      s.builder_stack.Clear();
      s.reader_stack.Clear();
    }
  };

  alignas(16) char value_buffer[kValueBytes];
  alignas(16) char builder_buffer[kStackBytes];
  alignas(16) char reader_buffer[kStackBytes];
  rapidjson::CrtAllocator heap;
  Pool values{value_buffer, sizeof value_buffer, kChunkBytes, &heap};
  Pool builder_stack{builder_buffer, sizeof builder_buffer, kChunkBytes, &heap};
  Pool reader_stack{reader_buffer, sizeof reader_buffer, kChunkBytes, &heap};
};

DecodeScratch& ThreadDecodeScratch() {
  thread_local std::unique_ptr<DecodeScratch> scratch = std::make_unique<DecodeScratch>();
  return *scratch;
}

std::string_view View(const rapidjson::Value& v) {
  return std::string_view(v.GetString(), v.GetStringLength());
}

// The member `name` of `obj`, or null when absent.
const rapidjson::Value* Member(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

absl::StatusOr<std::string> RequiredString(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value* v = Member(obj, name);
  if (v == nullptr) return BadFrame(absl::StrCat("missing field \"", name, "\""));
  if (!v->IsString()) return BadFrame(absl::StrCat("field \"", name, "\" must be a string"));
  return std::string(View(*v));
}

absl::StatusOr<Seq> RequiredSeq(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value* v = Member(obj, name);
  if (v == nullptr) return BadFrame(absl::StrCat("missing field \"", name, "\""));
  if (!v->IsUint64()) {
    return BadFrame(absl::StrCat("field \"", name, "\" must be a non-negative integer"));
  }
  return v->GetUint64();
}

absl::StatusOr<ClientFrame> DecodeHello(const rapidjson::Value& obj) {
  HelloFrame hello;
  COURIER_ASSIGN_OR_RETURN(hello.token, RequiredString(obj, "token"));
  COURIER_ASSIGN_OR_RETURN(hello.device, RequiredString(obj, "device"));
  if (absl::Status s = ValidateName("device", hello.device); !s.ok()) {
    return BadFrame(s.message());
  }
  if (const rapidjson::Value* since = Member(obj, "since"); since != nullptr && !since->IsNull()) {
    if (!since->IsUint64()) return BadFrame("field \"since\" must be a non-negative integer");
    hello.since = since->GetUint64();
  }
  return hello;
}

// Which field names the peer of a send or a typing op: "to" (a user) or
// "group"; nullopt when the frame has both or neither.
std::optional<const char*> PeerField(const rapidjson::Value& obj) {
  const bool to = Member(obj, "to") != nullptr;
  if (to == (Member(obj, "group") != nullptr)) return std::nullopt;
  return to ? "to" : "group";
}

// `error` with the frame's cid as payload, so the answer names the op.
absl::Status WithCid(absl::Status error, std::string_view cid) {
  error.SetPayload(kCidPayload, absl::Cord(Absl(cid)));
  return error;
}

absl::StatusOr<ClientFrame> DecodeSend(const rapidjson::Value& obj, const CodecLimits& limits) {
  SendFrame send;
  COURIER_ASSIGN_OR_RETURN(send.cid, RequiredString(obj, "cid"));
  if (absl::Status s = ValidateClientId(send.cid); !s.ok()) return BadFrame(s.message());
  const std::optional<const char*> peer = PeerField(obj);
  if (!peer.has_value()) {
    return WithCid(BadFrame("a send names exactly one of \"to\" and \"group\""), send.cid);
  }
  const bool to_group = std::string_view(*peer) == "group";
  absl::StatusOr<std::string> to = RequiredString(obj, *peer);
  absl::StatusOr<std::string> body = RequiredString(obj, "body");
  absl::Status error = !to.ok() ? to.status() : body.status();
  if (error.ok() && body->size() > limits.max_body_bytes) {
    error = absl::OutOfRangeError(
        absl::StrCat("body is ", body->size(), " bytes, the limit is ", limits.max_body_bytes));
  }
  if (!error.ok()) return WithCid(std::move(error), send.cid);
  (to_group ? send.group : send.to) = *std::move(to);
  send.body = *std::move(body);
  return send;
}

absl::StatusOr<ClientFrame> DecodeAck(const rapidjson::Value& obj) {
  AckFrame ack;
  COURIER_ASSIGN_OR_RETURN(ack.seq, RequiredSeq(obj, "seq"));
  return ack;
}

absl::StatusOr<ClientFrame> DecodeRead(const rapidjson::Value& obj, const CodecLimits& limits) {
  const rapidjson::Value* ids = Member(obj, "ids");
  if (ids == nullptr) return BadFrame("missing field \"ids\"");
  if (!ids->IsArray()) return BadFrame("field \"ids\" must be an array of strings");
  if (ids->Empty()) return BadFrame("field \"ids\" must name at least one message");
  if (ids->Size() > limits.max_read_ids) {
    return absl::OutOfRangeError(
        absl::StrCat("read names ", ids->Size(), " ids, the limit is ", limits.max_read_ids));
  }
  ReadFrame read;
  read.ids.reserve(ids->Size());
  for (const rapidjson::Value& id : ids->GetArray()) {
    if (!id.IsString()) return BadFrame("field \"ids\" must be an array of strings");
    if (id.GetStringLength() == 0 || id.GetStringLength() > kMaxIdBytes) {
      return BadFrame("a message id is 1-64 bytes");
    }
    read.ids.emplace_back(View(id));
  }
  return read;
}

// "members": 1..max_group_members valid names.
absl::StatusOr<std::vector<UserId>> DecodeMembers(const rapidjson::Value& v,
                                                  const CodecLimits& limits) {
  if (!v.IsArray()) return BadFrame("field \"members\" must be an array of names");
  if (v.Empty()) return BadFrame("field \"members\" must name at least one user");
  if (v.Size() > limits.max_group_members) {
    return BadFrame(absl::StrCat("members names ", v.Size(), " users, the limit is ",
                                 limits.max_group_members));
  }
  std::vector<UserId> members;
  members.reserve(v.Size());
  for (const rapidjson::Value& m : v.GetArray()) {
    if (!m.IsString()) return BadFrame("field \"members\" must be an array of names");
    if (absl::Status s = ValidateName("member", View(m)); !s.ok()) return BadFrame(s.message());
    members.emplace_back(View(m));
  }
  return members;
}

absl::StatusOr<std::string> DecodeGroupName(const rapidjson::Value& obj,
                                            const CodecLimits& limits) {
  COURIER_ASSIGN_OR_RETURN(std::string name, RequiredString(obj, "name"));
  if (name.empty() || name.size() > limits.max_group_name_bytes) {
    return BadFrame(absl::StrCat("a group name is 1-", limits.max_group_name_bytes, " bytes"));
  }
  return name;
}

absl::StatusOr<GroupOpFrame> DecodeGroupOpFields(const rapidjson::Value& obj,
                                                 const CodecLimits& limits, GroupOpFrame op) {
  COURIER_ASSIGN_OR_RETURN(std::string action, RequiredString(obj, "action"));
  std::optional<GroupAction> parsed = ParseGroupAction(action);
  if (!parsed.has_value()) {
    return BadFrame("field \"action\" must be create, add, remove, leave or rename");
  }
  op.action = *parsed;
  if (op.action != GroupAction::kCreate) {
    COURIER_ASSIGN_OR_RETURN(op.group, RequiredString(obj, "group"));
    if (op.group.empty()) return BadFrame("field \"group\" must not be empty");
  }
  const rapidjson::Value* members = Member(obj, "members");
  switch (op.action) {
    case GroupAction::kCreate: {
      if (members != nullptr && !(members->IsArray() && members->Empty())) {
        COURIER_ASSIGN_OR_RETURN(op.members, DecodeMembers(*members, limits));
      }
      COURIER_ASSIGN_OR_RETURN(op.name, DecodeGroupName(obj, limits));
      break;
    }
    case GroupAction::kAdd:
    case GroupAction::kRemove: {
      if (members == nullptr) return BadFrame("missing field \"members\"");
      COURIER_ASSIGN_OR_RETURN(op.members, DecodeMembers(*members, limits));
      break;
    }
    case GroupAction::kRename: {
      COURIER_ASSIGN_OR_RETURN(op.name, DecodeGroupName(obj, limits));
      break;
    }
    case GroupAction::kLeave:
      break;
  }
  return op;
}

absl::StatusOr<ClientFrame> DecodeGroupOp(const rapidjson::Value& obj, const CodecLimits& limits) {
  GroupOpFrame op;
  COURIER_ASSIGN_OR_RETURN(op.cid, RequiredString(obj, "cid"));
  if (absl::Status s = ValidateClientId(op.cid); !s.ok()) return BadFrame(s.message());
  std::string cid = op.cid;
  absl::StatusOr<GroupOpFrame> decoded = DecodeGroupOpFields(obj, limits, std::move(op));
  if (!decoded.ok()) return WithCid(decoded.status(), cid);
  return *std::move(decoded);
}

absl::StatusOr<ClientFrame> DecodeListGroups(const rapidjson::Value& obj) {
  ListGroupsFrame list;
  COURIER_ASSIGN_OR_RETURN(list.cid, RequiredString(obj, "cid"));
  if (absl::Status s = ValidateClientId(list.cid); !s.ok()) return BadFrame(s.message());
  if (const rapidjson::Value* group = Member(obj, "group"); group != nullptr && !group->IsNull()) {
    if (!group->IsString() || group->GetStringLength() == 0) {
      return WithCid(BadFrame("field \"group\" must be a non-empty string"), list.cid);
    }
    list.group = std::string(View(*group));
  }
  return list;
}

absl::StatusOr<ClientFrame> DecodeTyping(const rapidjson::Value& obj) {
  TypingOpFrame typing;
  const std::optional<const char*> field = PeerField(obj);
  if (!field.has_value()) return BadFrame("typing names exactly one of \"to\" and \"group\"");
  COURIER_ASSIGN_OR_RETURN(std::string peer, RequiredString(obj, *field));
  if (peer.empty()) return BadFrame("typing names an empty peer");
  (std::string_view(*field) == "group" ? typing.group : typing.to) = std::move(peer);
  const rapidjson::Value* on = Member(obj, "on");
  if (on == nullptr) return BadFrame("missing field \"on\"");
  if (!on->IsBool()) return BadFrame("field \"on\" must be true or false");
  typing.on = on->GetBool();
  return typing;
}

void WriteString(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteKey(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void WriteOp(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view op) {
  WriteKey(w, "op");
  WriteString(w, op);
}

struct FrameWriter {
  rapidjson::Writer<rapidjson::StringBuffer>& w;

  // "key": value pairs, in the order given: Fields("user", f.user, "seq",
  // f.seq). The value's type alone picks its JSON form (Value).
  template <typename T, typename... More>
  void Fields(std::string_view key, const T& value, const More&... more) {
    WriteKey(w, key);
    Value(value);
    if constexpr (sizeof...(More) > 0) Fields(more...);
  }
  // A frame's "op", then its fields.
  template <typename... Pairs>
  void Frame(std::string_view op, const Pairs&... pairs) {
    WriteOp(w, op);
    Fields(pairs...);
  }
  // What every inbox event's frame opens with: its op, then the seq the
  // client acks and the id it names the event by.
  void EventHead(std::string_view op, const Event& e) { Frame(op, "seq", e.seq, "id", e.id); }

  // Exact types only, so that nothing converts on the way (a char pointer
  // to bool, an int to a string): strings, uint64 (seqs, versions), int64
  // (times), bool, a list of strings, and an optional int64 (null when
  // absent).
  template <typename T>
  void Value(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      w.Bool(v);
    } else if constexpr (std::is_same_v<T, std::uint64_t>) {
      w.Uint64(v);
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      w.Int64(v);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      w.StartArray();
      for (const std::string& s : v) WriteString(w, s);
      w.EndArray();
    } else if constexpr (std::is_same_v<T, std::optional<std::int64_t>>) {
      if (v.has_value()) {
        w.Int64(*v);
      } else {
        w.Null();
      }
    } else {
      static_assert(std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>,
                    "a frame field is a string, uint64, int64, bool, string list or "
                    "optional int64");
      WriteString(w, v);
    }
  }

  void operator()(const WelcomeFrame& f) {
    Frame("welcome", "user", f.user, "device", f.device, "cursor", f.cursor, "head", f.head);
  }
  void operator()(const SentFrame& f) {
    Frame("sent", "cid", f.cid, "id", f.id, "ts", f.ts);
    if (f.duplicate) Fields("dup", true);
    if (!f.skipped.empty()) Fields("skipped", f.skipped);
  }
  void operator()(const EventFrame& f) { WriteEvent(f.event); }
  void WriteEvent(const Event& e) {
    switch (e.kind) {
      case EventKind::kMessage:
        EventHead("msg", e);
        Fields("from", e.peer, "body", e.body, "ts", e.ts);
        if (!e.group.empty()) Fields("group", e.group);
        return;
      case EventKind::kGroupChange:
        WriteGroupEvent(e);
        return;
      case EventKind::kReceipt:
        break;
    }
    EventHead("receipt", e);
    Fields("status", MessageStatusName(e.status), "by", e.peer, "ts", e.ts);
  }
  void operator()(const PresenceFrame& f) {
    Frame("presence", "user", f.user, "online", f.online, "last_seen", f.last_seen);
  }
  void operator()(const SyncedFrame& f) { Frame("synced", "seq", f.seq); }
  void operator()(const ErrorFrame& f) {
    Frame("error", "code", ErrorCodeName(f.code), "message", f.message);
    if (!f.cid.empty()) Fields("cid", f.cid);
    if (f.retry_after_ms.has_value()) Fields("retry_after_ms", *f.retry_after_ms);
  }
  void operator()(const GroupOkFrame& f) {
    Frame("group_ok", "cid", f.cid, "group", f.group, "changed", f.changed, "version",
          f.version);
    if (f.duplicate) Fields("dup", true);
  }
  void operator()(const GroupsFrame& f) {
    Frame("groups", "cid", f.cid);
    WriteKey(w, "groups");
    w.StartArray();
    for (const GroupRecord& g : f.groups) {
      w.StartObject();
      Fields("group", g.id, "name", g.name, "created_by", g.created_by, "created", g.created,
             "version", g.version);
      WriteKey(w, "members");
      w.StartArray();
      for (const GroupMember& m : g.members) {
        w.StartObject();
        Fields("user", m.user, "role", GroupRoleName(m.role), "since", m.since);
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
  }
  void operator()(const TypingFrame& f) {
    Frame("typing", "from", f.from, "on", f.on, "ttl_ms", f.ttl_ms);
    if (!f.group.empty()) Fields("group", f.group);
  }

  // A kGroupChange event. The body is the store's opaque bytes; one that
  // does not decode is still an event the client must ack, so it is written
  // without "action" and with no members rather than refused.
  void WriteGroupEvent(const Event& e) {
    EventHead("group_event", e);
    Fields("group", e.group, "by", e.peer);
    absl::StatusOr<GroupChange> change = DecodeGroupChange(e.body);
    if (!change.ok()) {
      Fields("members", std::vector<std::string>{}, "ts", e.ts);
      return;
    }
    Fields("action", GroupActionName(change->action), "members", change->members);
    if (change->action == GroupAction::kCreate || change->action == GroupAction::kRename) {
      Fields("name", change->name);
    }
    Fields("ts", e.ts);
  }
};

}  // namespace

absl::StatusOr<ClientFrame> DecodeClientFrame(std::string_view json, const CodecLimits& limits) {
  DecodeScratch& scratch = ThreadDecodeScratch();
  DecodeScratch::Reset reset(scratch);  // the tree goes when the frame is decoded
  Document doc(&scratch.values, DecodeScratch::kStackBytes / 2, &scratch.builder_stack);
  Parse parse{json, limits.max_depth, {}, false, scratch.reader_stack};
  doc.Populate(parse);
  if (parse.too_deep) {
    return BadFrame(absl::StrCat("frame nests deeper than ", limits.max_depth, " levels"));
  }
  if (parse.result.IsError()) {
    return BadFrame(absl::StrCat("frame is not valid UTF-8 JSON: ",
                                 rapidjson::GetParseError_En(parse.result.Code()), " (byte ",
                                 parse.result.Offset(), ")"));
  }
  if (!doc.IsObject()) return BadFrame("frame must be a JSON object");
  const rapidjson::Value* op = Member(doc, "op");
  if (op == nullptr) return BadFrame("missing field \"op\"");
  if (!op->IsString()) return BadFrame("field \"op\" must be a string");
  std::string_view name = View(*op);
  if (name == "hello") return DecodeHello(doc);
  if (name == "send") return DecodeSend(doc, limits);
  if (name == "ack") return DecodeAck(doc);
  if (name == "read") return DecodeRead(doc, limits);
  if (name == "ping") return PingFrame{};
  if (name == "group") return DecodeGroupOp(doc, limits);
  if (name == "groups") return DecodeListGroups(doc);
  if (name == "typing") return DecodeTyping(doc);
  // The name is valid UTF-8 (the parser checked); a long one is not echoed,
  // so that the answer never carries a cut character.
  if (name.size() > kMaxIdBytes) return absl::UnimplementedError("unknown op");
  return absl::UnimplementedError(absl::StrCat("unknown op \"", Absl(name), "\""));
}

ErrorCode DecodeErrorCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnimplemented:
      return ErrorCode::kUnknownOp;
    case absl::StatusCode::kOutOfRange:
      return ErrorCode::kTooLarge;
    default:
      return ErrorCode::kBadFrame;
  }
}

ErrorFrame ToErrorFrame(const absl::Status& status) {
  ErrorFrame frame;
  frame.code = DecodeErrorCode(status);
  frame.message = std::string(status.message());
  if (auto cid = status.GetPayload(kCidPayload); cid.has_value()) {
    frame.cid = std::string(*cid);
  }
  return frame;
}

std::string EncodeServerFrame(const ServerFrame& frame) {
  return std::string(EncodeServerFrameView(FrameRef(frame)));
}

std::string_view EncodeServerFrameView(const FrameRef& frame) {
  // Per thread, reused: the JSON buffer and the writer's level stack keep
  // their memory from frame to frame.
  struct Scratch {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer{buffer};
  };
  thread_local Scratch scratch;
  const bool large = scratch.buffer.GetSize() > kMaxKeptScratchBytes;  // the last frame's
  scratch.buffer.Clear();
  if (large) scratch.buffer.ShrinkToFit();  // empty: gives the memory back
  scratch.writer.Reset(scratch.buffer);
  auto& w = scratch.writer;
  w.StartObject();
  FrameWriter writer{w};
  if (frame.event() != nullptr) {
    writer.WriteEvent(*frame.event());
  } else {
    std::visit(writer, *frame.frame());
  }
  w.EndObject();
  return std::string_view(scratch.buffer.GetString(), scratch.buffer.GetSize());
}

std::string EncodePong() { return R"({"op":"pong"})"; }

}  // namespace courier::websocket
