// courier-cli: JSON helpers.
#include "json.h"

#include <rapidjson/error/en.h>

#include "absl/strings/str_cat.h"

namespace courier_cli {

absl::StatusOr<rapidjson::Document> ParseObject(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not JSON: ", rapidjson::GetParseError_En(doc.GetParseError()), " at ", doc.GetErrorOffset()));
  }
  if (!doc.IsObject()) return absl::InvalidArgumentError("not a JSON object");
  return doc;
}

std::optional<std::string> StringField(const rapidjson::Value& o, const char* name) {
  if (!o.IsObject()) return std::nullopt;
  auto it = o.FindMember(name);
  if (it == o.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<int64_t> IntField(const rapidjson::Value& o, const char* name) {
  if (!o.IsObject()) return std::nullopt;
  auto it = o.FindMember(name);
  if (it == o.MemberEnd() || !it->value.IsInt64()) return std::nullopt;
  return it->value.GetInt64();
}

std::string Compact(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

JsonObject& JsonObject::Add(std::string_view key, std::string_view value) {
  writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  writer_.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  return *this;
}

JsonObject& JsonObject::Add(std::string_view key, int64_t value) {
  writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  writer_.Int64(value);
  return *this;
}

JsonObject& JsonObject::AddBool(std::string_view key, bool value) {
  writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  writer_.Bool(value);
  return *this;
}

JsonObject& JsonObject::AddStrings(std::string_view key, const std::vector<std::string>& values) {
  writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  writer_.StartArray();
  for (const std::string& v : values) writer_.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  writer_.EndArray();
  return *this;
}

std::string JsonObject::str() {
  if (!writer_.IsComplete()) writer_.EndObject();
  return std::string(buffer_.GetString(), buffer_.GetSize());
}

}  // namespace courier_cli
