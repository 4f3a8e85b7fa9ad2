// http_routes.cc: see http_routes.h.
#include "http_routes.h"

#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "http_errors.h"
#include "rapidjson/document.h"

namespace courier::server {
namespace {

using websocket::HttpRequest;
using websocket::HttpResponse;

std::string_view MessageOf(const absl::Status& s) {
  return std::string_view(s.message().data(), s.message().size());
}

// The HTTP status and error word of each canonical code; any other code is
// 500 "internal".
struct HttpCode {
  absl::StatusCode code;
  int status;
  std::string_view word;
};
constexpr HttpCode kHttpCodes[] = {
    {absl::StatusCode::kInvalidArgument, 400, "bad_request"},
    {absl::StatusCode::kOutOfRange, 400, "bad_request"},
    {absl::StatusCode::kUnauthenticated, 401, "unauthorized"},
    {absl::StatusCode::kPermissionDenied, 403, "forbidden"},
    {absl::StatusCode::kNotFound, 404, "not_found"},
    {absl::StatusCode::kAlreadyExists, 409, "conflict"},
    {absl::StatusCode::kResourceExhausted, 429, "resource_exhausted"},
    {absl::StatusCode::kUnavailable, 503, "unavailable"},
    {absl::StatusCode::kDeadlineExceeded, 503, "unavailable"},
    {absl::StatusCode::kAborted, 503, "unavailable"},
};

HttpResponse AnswerOfCode(const absl::Status& s) {
  for (const HttpCode& c : kHttpCodes) {
    if (c.code == s.code()) return JsonError(c.status, c.word, MessageOf(s));
  }
  return JsonError(500, "internal", MessageOf(s));
}

}  // namespace

HttpResponse HttpAnswerOf(const absl::Status& status) {
  HttpResponse r = AnswerOfCode(status);
  if (std::optional<std::string> code = ErrorCodeOf(status); code.has_value()) {
    r = JsonError(r.status, *code, MessageOf(status));
  }
  if (std::optional<std::int64_t> retry = RetryAfterSecondsOf(status); retry.has_value()) {
    r.headers.emplace_back("Retry-After", std::to_string(*retry));
  }
  return r;
}

HttpResponse MethodNotAllowed(std::string_view allow) {
  HttpResponse r = JsonError(405, "method_not_allowed",
                             absl::StrCat("use ", absl::string_view(allow.data(), allow.size())));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

HttpResponse HealthAnswer(Engine& engine) {
  absl::Status s = engine.Health();
  if (!s.ok()) return JsonError(503, "unavailable", MessageOf(s));
  return HttpResponse::Json(200, R"({"status":"ok"})");
}

absl::StatusOr<std::vector<std::string>> RequiredStrings(
    const HttpRequest& request, std::initializer_list<const char*> names) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
      request.body.data(), request.body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError("the body must be a JSON object");
  }
  const rapidjson::Document& view = doc;  // const iterators: no C++20 operator== ambiguity
  std::vector<std::string> values;
  for (const char* name : names) {
    auto it = view.FindMember(name);
    if (it == view.MemberEnd() || !it->value.IsString()) {
      return absl::InvalidArgumentError(absl::StrCat("field \"", name, "\" must be a string"));
    }
    values.emplace_back(it->value.GetString(), it->value.GetStringLength());
  }
  return values;
}

std::optional<std::string_view> BearerToken(const HttpRequest& request) {
  std::string_view auth = request.Header("Authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (auth.size() <= kPrefix.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(auth.data(), kPrefix.size()), "bearer ")) {
    return std::nullopt;
  }
  return auth.substr(kPrefix.size());
}

HttpResponse Answer(int status, const rapidjson::StringBuffer& b) {
  return HttpResponse::Json(status, std::string(b.GetString(), b.GetSize()));
}

HttpResponse JsonObject(int status,
                        std::initializer_list<std::pair<const char*, std::string>> kv) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  for (const auto& [k, v] : kv) {
    w.Key(k);
    Str(w, v);
  }
  w.EndObject();
  return Answer(status, b);
}

}  // namespace courier::server
