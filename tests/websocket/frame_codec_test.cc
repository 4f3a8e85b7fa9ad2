// Tests of courier/websocket/frame_codec.h: every client op, every class of
// bad frame, and the exact JSON of every server frame.
#include "courier/websocket/frame_codec.h"

#include <string>

#include "support/status_matchers.h"

namespace courier::websocket {
namespace {

using ::courier::testing::StatusIs;

template <typename T>
T DecodeAs(std::string_view json) {
  absl::StatusOr<ClientFrame> frame = DecodeClientFrame(json);
  COURIER_REQUIRE_OK(frame);
  REQUIRE(std::holds_alternative<T>(*frame));
  return std::get<T>(*std::move(frame));
}

absl::Status DecodeError(std::string_view json, const CodecLimits& limits = {}) {
  return DecodeClientFrame(json, limits).status();
}

TEST_CASE("FrameCodec: decodes hello with and without since", "[websocket][codec]") {
  HelloFrame h = DecodeAs<HelloFrame>(R"({"op":"hello","token":"t.k.n","device":"phone-1"})");
  CHECK(h.token == "t.k.n");
  CHECK(h.device == "phone-1");
  CHECK_FALSE(h.since.has_value());

  h = DecodeAs<HelloFrame>(R"({"op":"hello","token":"x","device":"d","since":0})");
  REQUIRE(h.since.has_value());
  CHECK(*h.since == 0);

  h = DecodeAs<HelloFrame>(R"({"op":"hello","token":"x","device":"d","since":18446744073709551615})");
  CHECK(*h.since == 18446744073709551615ULL);

  h = DecodeAs<HelloFrame>(R"({"op":"hello","token":"x","device":"d","since":null})");
  CHECK_FALSE(h.since.has_value());
}

TEST_CASE("FrameCodec: decodes send, ack, read and ping", "[websocket][codec]") {
  SendFrame s = DecodeAs<SendFrame>(R"({"op":"send","cid":"c-1","to":"bob","body":"hi \u00e9\n"})");
  CHECK(s.cid == "c-1");
  CHECK(s.to == "bob");
  CHECK(s.body == "hi \xc3\xa9\n");

  CHECK(DecodeAs<AckFrame>(R"({"op":"ack","seq":42})").seq == 42);

  ReadFrame r = DecodeAs<ReadFrame>(R"({"op":"read","ids":["m1","m2"]})");
  CHECK(r.ids == std::vector<MessageId>{"m1", "m2"});

  DecodeAs<PingFrame>(R"({"op":"ping"})");
}

TEST_CASE("FrameCodec: unknown fields are ignored", "[websocket][codec]") {
  AckFrame a = DecodeAs<AckFrame>(R"({"extra":{"deep":[1,2,{"x":null}]},"op":"ack","seq":1,"z":true})");
  CHECK(a.seq == 1);
}

TEST_CASE("FrameCodec: a body of exactly the limit is accepted", "[websocket][codec]") {
  std::string body(64 * 1024, 'b');
  SendFrame s = DecodeAs<SendFrame>(R"({"op":"send","cid":"c","to":"bob","body":")" + body + "\"}");
  CHECK(s.body.size() == 64 * 1024);
}

TEST_CASE("FrameCodec: not JSON is bad_frame", "[websocket][codec]") {
  for (std::string_view text : {"", "   ", "hello", "{", R"({"op":"ping")", R"({"op":"ping"} x)",
                                R"({"op":"ping"}{"op":"ping"})", "{'op':'ping'}",
                                R"({"op":"ping",})"}) {
    INFO("frame: " << text);
    absl::Status s = DecodeError(text);
    REQUIRE_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
    CHECK(DecodeErrorCode(s) == ErrorCode::kBadFrame);
  }
}

TEST_CASE("FrameCodec: a frame that is no object, or has no string op, is bad_frame",
          "[websocket][codec]") {
  for (std::string_view text : {R"([{"op":"ping"}])", R"("ping")", "42", "null",
                                R"({"seq":1})", R"({"op":1})", R"({"op":null})",
                                R"({"op":["ping"]})", R"({"OP":"ping"})"}) {
    INFO("frame: " << text);
    REQUIRE_THAT(DecodeError(text), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_CASE("FrameCodec: an unknown op is unknown_op", "[websocket][codec]") {
  absl::Status s = DecodeError(R"({"op":"subscribe"})");
  REQUIRE_THAT(s, StatusIs(absl::StatusCode::kUnimplemented));
  CHECK(DecodeErrorCode(s) == ErrorCode::kUnknownOp);
  CHECK(ToErrorFrame(s).code == ErrorCode::kUnknownOp);
  // Ops are case-sensitive.
  REQUIRE_THAT(DecodeError(R"({"op":"PING"})"), StatusIs(absl::StatusCode::kUnimplemented));
  // A huge op name is not echoed back.
  std::string long_op(1000, 'x');
  absl::Status big = DecodeError(R"({"op":")" + long_op + "\"}");
  REQUIRE_THAT(big, StatusIs(absl::StatusCode::kUnimplemented));
  CHECK(big.message().size() < 100);
}

TEST_CASE("FrameCodec: missing fields and wrong field types are bad_frame", "[websocket][codec]") {
  for (std::string_view text : {
           R"({"op":"hello","device":"d"})",
           R"({"op":"hello","token":"t"})",
           R"({"op":"hello","token":5,"device":"d"})",
           R"({"op":"hello","token":"t","device":7})",
           R"({"op":"hello","token":"t","device":"d","since":-1})",
           R"({"op":"hello","token":"t","device":"d","since":"3"})",
           R"({"op":"hello","token":"t","device":"d","since":1.5})",
           R"({"op":"hello","token":"t","device":"bad device"})",
           R"({"op":"hello","token":"t","device":""})",
           R"({"op":"send","to":"bob","body":"x"})",
           R"({"op":"send","cid":1,"to":"bob","body":"x"})",
           R"({"op":"ack"})",
           R"({"op":"ack","seq":"1"})",
           R"({"op":"ack","seq":-1})",
           R"({"op":"ack","seq":1.0})",
           R"({"op":"ack","seq":1e3})",
           R"({"op":"ack","seq":18446744073709551616})",
           R"({"op":"ack","seq":null})",
           R"({"op":"read"})",
           R"({"op":"read","ids":"m1"})",
           R"({"op":"read","ids":[]})",
           R"({"op":"read","ids":["m1",2]})",
           R"({"op":"read","ids":[""]})",
       }) {
    INFO("frame: " << text);
    REQUIRE_THAT(DecodeError(text), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_CASE("FrameCodec: a send with a bad to or body answers bad_frame with its cid",
          "[websocket][codec]") {
  absl::Status s = DecodeError(R"({"op":"send","cid":"c7","to":"bob","body":5})");
  REQUIRE_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  ErrorFrame e = ToErrorFrame(s);
  CHECK(e.code == ErrorCode::kBadFrame);
  CHECK(e.cid == "c7");

  e = ToErrorFrame(DecodeError(R"({"op":"send","cid":"c8","body":"x"})"));
  CHECK(e.code == ErrorCode::kBadFrame);
  CHECK(e.cid == "c8");
}

TEST_CASE("FrameCodec: a cid outside 1-64 bytes is bad_frame", "[websocket][codec]") {
  std::string cid65(65, 'c');
  absl::Status s = DecodeError(R"({"op":"send","cid":")" + cid65 + R"(","to":"bob","body":"x"})");
  REQUIRE_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK(ToErrorFrame(s).cid.empty());  // an invalid cid is not echoed
  REQUIRE_THAT(DecodeError(R"({"op":"send","cid":"","to":"bob","body":"x"})"),
               StatusIs(absl::StatusCode::kInvalidArgument));
  REQUIRE_THAT(DecodeError(R"({"op":"send","cid":"a\u0000b","to":"bob","body":"x"})"),
               StatusIs(absl::StatusCode::kInvalidArgument));
  std::string cid64(64, 'c');
  CHECK(DecodeAs<SendFrame>(R"({"op":"send","cid":")" + cid64 + R"(","to":"bob","body":"x"})")
            .cid == cid64);
}

TEST_CASE("FrameCodec: a body over 64 KiB is too_large with the cid", "[websocket][codec]") {
  std::string body(64 * 1024 + 1, 'b');
  absl::Status s = DecodeError(R"({"op":"send","cid":"big","to":"bob","body":")" + body + "\"}");
  REQUIRE_THAT(s, StatusIs(absl::StatusCode::kOutOfRange));
  ErrorFrame e = ToErrorFrame(s);
  CHECK(e.code == ErrorCode::kTooLarge);
  CHECK(e.cid == "big");
}

TEST_CASE("FrameCodec: the limits are options", "[websocket][codec]") {
  CodecLimits limits;
  limits.max_body_bytes = 3;
  limits.max_read_ids = 2;
  REQUIRE_THAT(DecodeError(R"({"op":"send","cid":"c","to":"b","body":"abcd"})", limits),
               StatusIs(absl::StatusCode::kOutOfRange));
  REQUIRE_THAT(DecodeError(R"({"op":"read","ids":["a","b","c"]})", limits),
               StatusIs(absl::StatusCode::kOutOfRange));
  COURIER_REQUIRE_OK(DecodeClientFrame(R"({"op":"read","ids":["a","b"]})", limits));
}

TEST_CASE("FrameCodec: more than 1000 read ids is too_large", "[websocket][codec]") {
  auto frame_with = [](int n) {
    std::string json = R"({"op":"read","ids":[)";
    for (int i = 0; i < n; ++i) json += (i ? ",\"m" : "\"m") + std::to_string(i) + "\"";
    return json + "]}";
  };
  COURIER_REQUIRE_OK(DecodeClientFrame(frame_with(1000)));
  absl::Status s = DecodeError(frame_with(1001));
  REQUIRE_THAT(s, StatusIs(absl::StatusCode::kOutOfRange));
  CHECK(DecodeErrorCode(s) == ErrorCode::kTooLarge);
  // An id over 64 bytes is malformed.
  REQUIRE_THAT(DecodeError(R"({"op":"read","ids":[")" + std::string(65, 'm') + "\"]}"),
               StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("FrameCodec: deep nesting is bad_frame, without recursion", "[websocket][codec]") {
  std::string shallow = R"({"op":"ping","x":)" + std::string(10, '[') + std::string(10, ']') + "}";
  COURIER_REQUIRE_OK(DecodeClientFrame(shallow));
  for (int depth : {17, 1000, 200000}) {
    INFO("depth " << depth);
    std::string deep = R"({"op":"ping","x":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
    REQUIRE_THAT(DecodeError(deep), StatusIs(absl::StatusCode::kInvalidArgument));
    std::string objects = R"({"op":"ping")";
    for (int i = 0; i < depth; ++i) objects += R"(,"a":{"b":1)";
    REQUIRE_THAT(DecodeError(objects), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_CASE("FrameCodec: invalid UTF-8 is bad_frame", "[websocket][codec]") {
  for (std::string text : {std::string("{\"op\":\"send\",\"cid\":\"c\",\"to\":\"bob\",\"body\":\"\xff\"}"),
                           std::string("{\"op\":\"send\",\"cid\":\"c\",\"to\":\"bob\",\"body\":\"\xc3\"}"),
                           std::string("{\"op\":\"send\",\"cid\":\"c\",\"to\":\"bob\",\"body\":\"\xed\xa0\x80\"}"),
                           std::string("{\"op\":\"ping\",\"x\":\"\xc0\xaf\"}"),
                           std::string(R"({"op":"send","cid":"c","to":"bob","body":"\ud800"})"),
                           std::string("{\"op\":\"ping\",\"x\":\"a\x01\"}")}) {
    INFO("frame bytes: " << text);
    REQUIRE_THAT(DecodeError(text), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  // A valid surrogate pair and 4-byte UTF-8 are fine.
  SendFrame s = DecodeAs<SendFrame>("{\"op\":\"send\",\"cid\":\"c\",\"to\":\"b\",\"body\":\"\\ud83d\\ude00 \xf0\x9f\x98\x80\"}");
  CHECK(s.body == "\xf0\x9f\x98\x80 \xf0\x9f\x98\x80");
}

TEST_CASE("FrameCodec: encodes welcome, sent and synced", "[websocket][codec]") {
  CHECK(EncodeServerFrame(WelcomeFrame{"alice", "phone", 3, 9}) ==
        R"({"op":"welcome","user":"alice","device":"phone","cursor":3,"head":9})");
  CHECK(EncodeServerFrame(SentFrame{"c1", "m1", 1700000000000, false, {}}) ==
        R"({"op":"sent","cid":"c1","id":"m1","ts":1700000000000})");
  CHECK(EncodeServerFrame(SentFrame{"c1", "m1", 5, true, {}}) ==
        R"({"op":"sent","cid":"c1","id":"m1","ts":5,"dup":true})");
  CHECK(EncodeServerFrame(SyncedFrame{12}) == R"({"op":"synced","seq":12})");
  CHECK(EncodePong() == R"({"op":"pong"})");
}

TEST_CASE("FrameCodec: encodes messages and receipts by event kind", "[websocket][codec]") {
  Event msg;
  msg.seq = 4;
  msg.kind = EventKind::kMessage;
  msg.id = "m9";
  msg.peer = "bob";
  msg.body = "say \"hi\"\n\xc3\xa9";
  msg.ts = 77;
  CHECK(EncodeServerFrame(EventFrame{msg}) ==
        "{\"op\":\"msg\",\"seq\":4,\"id\":\"m9\",\"from\":\"bob\",\"body\":\"say \\\"hi\\\"\\n\xc3\xa9\","
        "\"ts\":77}");

  Event receipt;
  receipt.seq = 5;
  receipt.kind = EventKind::kReceipt;
  receipt.id = "m1";
  receipt.peer = "carol";
  receipt.status = MessageStatus::kDelivered;
  receipt.ts = 80;
  CHECK(EncodeServerFrame(EventFrame{receipt}) ==
        R"({"op":"receipt","seq":5,"id":"m1","status":"delivered","by":"carol","ts":80})");
  receipt.status = MessageStatus::kRead;
  CHECK(EncodeServerFrame(EventFrame{receipt}) ==
        R"({"op":"receipt","seq":5,"id":"m1","status":"read","by":"carol","ts":80})");
}

TEST_CASE("FrameCodec: encodes presence with last_seen null when unknown", "[websocket][codec]") {
  CHECK(EncodeServerFrame(PresenceFrame{"bob", true, std::nullopt}) ==
        R"({"op":"presence","user":"bob","online":true,"last_seen":null})");
  CHECK(EncodeServerFrame(PresenceFrame{"bob", false, 1234}) ==
        R"({"op":"presence","user":"bob","online":false,"last_seen":1234})");
}

TEST_CASE("FrameCodec: encodes errors with cid and retry_after_ms only when set",
          "[websocket][codec]") {
  ErrorFrame e;
  e.code = ErrorCode::kBadSeq;
  e.message = "ack beyond head";
  CHECK(EncodeServerFrame(e) == R"({"op":"error","code":"bad_seq","message":"ack beyond head"})");
  e.code = ErrorCode::kRateLimited;
  e.message = "slow down";
  e.cid = "c3";
  e.retry_after_ms = 1500;
  CHECK(EncodeServerFrame(e) ==
        R"({"op":"error","code":"rate_limited","message":"slow down","cid":"c3","retry_after_ms":1500})");
}

TEST_CASE("FrameCodec: every error code has its protocol name", "[websocket][codec]") {
  const std::pair<ErrorCode, std::string_view> names[] = {
      {ErrorCode::kBadFrame, "bad_frame"},       {ErrorCode::kUnknownOp, "unknown_op"},
      {ErrorCode::kTooLarge, "too_large"},       {ErrorCode::kNotFriends, "not_friends"},
      {ErrorCode::kUnknownUser, "unknown_user"}, {ErrorCode::kRateLimited, "rate_limited"},
      {ErrorCode::kUnavailable, "unavailable"},  {ErrorCode::kBadSeq, "bad_seq"},
      {ErrorCode::kUnauthorized, "unauthorized"}, {ErrorCode::kQueueFull, "queue_full"},
  };
  for (const auto& [code, name] : names) {
    ErrorFrame e;
    e.code = code;
    std::string json = EncodeServerFrame(e);
    INFO(json);
    CHECK(json.find("\"code\":\"" + std::string(name) + "\"") != std::string::npos);
  }
}

TEST_CASE("FrameCodec: a decoded send re-encodes as the same body", "[websocket][codec]") {
  const std::string body = "line1\nline2\t\"quoted\" \\ \xe2\x82\xac \xf0\x9f\x98\x80";
  Event e;
  e.kind = EventKind::kMessage;
  e.seq = 1;
  e.id = "m";
  e.peer = "a";
  e.body = body;
  std::string json = EncodeServerFrame(EventFrame{e});
  // The encoded body, put into a send frame, decodes back to the same bytes.
  std::size_t start = json.find("\"body\":") + 7;
  std::size_t end = json.find(",\"ts\"");
  std::string send = R"({"op":"send","cid":"c","to":"b","body":)" + json.substr(start, end - start) + "}";
  CHECK(DecodeAs<SendFrame>(send).body == body);
}

}  // namespace
}  // namespace courier::websocket

namespace courier::websocket {
namespace {

// Decoding and encoding reuse per-thread buffers (frame_codec.cc's
// DecodeScratch, frame_encode.h's scratch): frames of every size, one
// after another on one thread, each come out whole and alone.
TEST_CASE("FrameCodec: frames larger than the reused buffers, between small ones",
          "[websocket][codec]") {
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    std::string big_body(60 * 1024, 'x');
    SendFrame big = DecodeAs<SendFrame>(R"({"op":"send","cid":"c1","to":"bob","body":")" +
                                        big_body + "\"}");
    CHECK(big.body == big_body);
    std::string ids = R"({"op":"read","ids":[)";
    for (int i = 0; i < 1000; ++i) {
      if (i > 0) ids += ',';
      ids += '"';
      ids.append(40, static_cast<char>('a' + i % 26));
      ids += '"';
    }
    ids += "]}";
    ReadFrame read = DecodeAs<ReadFrame>(ids);
    REQUIRE(read.ids.size() == 1000);
    CHECK(read.ids[999] == std::string(40, static_cast<char>('a' + 999 % 26)));
    SendFrame small = DecodeAs<SendFrame>(R"({"op":"send","cid":"c2","to":"amy","body":"hi"})");
    CHECK(small.cid == "c2");
    CHECK(small.to == "amy");
    CHECK(small.body == "hi");
    CHECK(DecodeError(R"({"op":"send","cid":"c3"})").message().find("to") != std::string::npos);

    Event e;
    e.seq = 1;
    e.kind = EventKind::kMessage;
    e.id = "m1";
    e.peer = "bob";
    e.body = std::string(100 * 1024, 'y');  // past the scratch it keeps
    const std::string large = EncodeServerFrame(EventFrame{e});
    CHECK(large.size() > 100 * 1024);
    CHECK(large.find(e.body) != std::string::npos);
    CHECK(EncodeServerFrame(SyncedFrame{7}) == R"({"op":"synced","seq":7})");
    // The view of a borrowed event is the EventFrame's JSON, valid until
    // the thread's next encode.
    e.body = "short";
    const std::string via_frame = EncodeServerFrame(EventFrame{e});
    CHECK(std::string(EncodeServerFrameView(FrameRef(e))) == via_frame);
    const ServerFrame sent = SentFrame{"c9", "m9", 3, false, {}};
    CHECK(EncodeServerFrameView(FrameRef(sent)) == R"({"op":"sent","cid":"c9","id":"m9","ts":3})");
  }
}

}  // namespace
}  // namespace courier::websocket
