// fuzz_frame_decoder: courier::websocket::DecodeClientFrame on any bytes.
//
// Beyond "no crash, no sanitizer report", every accepted frame must respect
// the codec's limits, and every string it hands on must be UTF-8 that the
// encoder can send back in a text frame: a decoded send body, echoed as a
// `msg` event, must parse again (RapidJSON, UTF-8 validated) to the same
// body, and a decoded cid must survive the `sent` answer the same way.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  CodecLimits limits;
  limits.max_body_bytes = 4096;
  limits.max_read_ids = 8;
  limits.max_depth = 6;
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
        courier::SentFrame{send->cid, "id", 1, false});
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
  }
  return 0;
}
