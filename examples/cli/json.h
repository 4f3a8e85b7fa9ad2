// courier-cli: the little JSON it needs, over RapidJSON.
//
// Ownership: values. Thread-safety: none shared. Blocking: no.
#ifndef COURIER_EXAMPLES_CLI_JSON_H_
#define COURIER_EXAMPLES_CLI_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "absl/status/statusor.h"

namespace courier_cli {

// Parses `text` as one JSON object. Errors: kInvalidArgument.
absl::StatusOr<rapidjson::Document> ParseObject(std::string_view text);

// The member `name` of object `o` as a string / integer, or nothing when it is
// absent or of another type.
std::optional<std::string> StringField(const rapidjson::Value& o, const char* name);
std::optional<int64_t> IntField(const rapidjson::Value& o, const char* name);

// `v` as compact JSON on one line.
std::string Compact(const rapidjson::Value& v);

// Builds one JSON object: JsonObject().Add("op", "ack").Add("seq", 5).str().
class JsonObject {
 public:
  JsonObject() : writer_(buffer_) { writer_.StartObject(); }
  JsonObject& Add(std::string_view key, std::string_view value);
  JsonObject& Add(std::string_view key, int64_t value);
  JsonObject& AddBool(std::string_view key, bool value);
  JsonObject& AddStrings(std::string_view key, const std::vector<std::string>& values);
  std::string str();

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace courier_cli

#endif  // COURIER_EXAMPLES_CLI_JSON_H_
