// http_routes.h: what the public routes (http_api.h) and the admin routes
// (admin_api.h) share: reading a request (a JSON body's string fields, the
// bearer token) and answering it (a Status as HTTP, 405, /healthz, JSON).
//
// Thread-safety: pure functions. Blocking: HealthAnswer calls
// Engine::Health; the rest never blocks.
#ifndef COURIER_EXAMPLES_SERVER_HTTP_ROUTES_H_
#define COURIER_EXAMPLES_SERVER_HTTP_ROUTES_H_

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "courier/engine.h"
#include "courier/websocket/http.h"
#include "json_writer.h"
#include "rapidjson/stringbuffer.h"

namespace courier::server {

// The one mapping of canonical codes to HTTP answers ({"error","message"}):
// InvalidArgument and OutOfRange 400, Unauthenticated 401, PermissionDenied
// 403, NotFound 404, AlreadyExists 409, ResourceExhausted 429, Unavailable,
// DeadlineExceeded and Aborted 503, anything else 500. An error word and a
// Retry-After set with WithHttpDetail (http_errors.h) are honoured.
websocket::HttpResponse HttpAnswerOf(const absl::Status& status);

// 405 with an Allow header of `allow` ("GET", "PUT, DELETE").
websocket::HttpResponse MethodNotAllowed(std::string_view allow);

// /healthz: 200 {"status":"ok"} while Engine::Health is OK, else 503.
websocket::HttpResponse HealthAnswer(Engine& engine);

// The string fields `names` of the request's JSON object body, in that
// order; InvalidArgument when the body is not a JSON object or a field is
// missing or not a string (the first such field is named).
absl::StatusOr<std::vector<std::string>> RequiredStrings(
    const websocket::HttpRequest& request, std::initializer_list<const char*> names);

// The token of an `Authorization: Bearer <token>` header ("bearer" in any
// case), or nullopt when the header is missing, empty or another scheme.
std::optional<std::string_view> BearerToken(const websocket::HttpRequest& request);

// A JSON answer of what `b` holds.
websocket::HttpResponse Answer(int status, const rapidjson::StringBuffer& b);

// A JSON answer of one object with string values, in the order given.
websocket::HttpResponse JsonObject(
    int status, std::initializer_list<std::pair<const char*, std::string>> kv);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_HTTP_ROUTES_H_
