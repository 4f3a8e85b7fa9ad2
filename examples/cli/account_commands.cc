// courier-cli: register, login, friend, accept, friends (the HTTP API).

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "credentials.h"
#include "json.h"
#include "output.h"

namespace courier_cli {

namespace http = boost::beast::http;

namespace {

// The server's {"error", "message"} answer as a Status, the code from the HTTP status.
absl::Status HttpError(const HttpReply& reply) {
  std::string text;
  if (auto doc = ParseObject(reply.body); doc.ok()) {
    text = StringField(*doc, "message").value_or(StringField(*doc, "error").value_or(""));
  }
  if (text.empty()) text = reply.body.substr(0, 200);
  if (text.empty()) text = "no details";
  text = absl::StrCat("the server answered ", reply.status, ": ", text);
  switch (reply.status) {
    case 400: case 413: case 422: return absl::InvalidArgumentError(text);
    case 401: return absl::UnauthenticatedError(text);
    case 403: return absl::PermissionDeniedError(text);
    case 404: return absl::NotFoundError(text);
    case 409: return absl::AlreadyExistsError(text);
    case 429: return absl::ResourceExhaustedError(text);
    case 502: case 503: case 504: return absl::UnavailableError(text);
    default: return reply.status >= 500 ? absl::InternalError(text) : absl::UnknownError(text);
  }
}

// One request on a fresh connection; a 2xx answer's body as a JSON object
// (an empty body as {}).
absl::StatusOr<rapidjson::Document> Call(Context& ctx, http::verb verb, std::string_view target,
                                         std::string_view body, std::string_view token) {
  auto connection = Connect(*ctx.runner, ctx.connect);
  if (!connection.ok()) return connection.status();
  auto reply = (*connection)->Request(verb, target, body, token);
  (*connection)->Close();
  if (!reply.ok()) return reply.status();
  if (reply->status < 200 || reply->status > 299) return HttpError(*reply);
  if (reply->body.empty()) return ParseObject("{}");
  auto doc = ParseObject(reply->body);
  if (!doc.ok()) {
    return absl::InternalError(absl::StrCat("the server's answer to ", std::string(target), " is ", doc.status().message()));
  }
  return doc;
}

std::string UserBody(std::string_view user) { return JsonObject().Add("user", user).str(); }

absl::StatusOr<bool> AreFriends(Context& ctx, const Credentials& me, std::string_view user) {
  auto friends = FetchFriends(ctx, me);
  if (!friends.ok()) return friends.status();
  for (const std::string& f : *friends) {
    if (f == user) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<rapidjson::Document> CallApi(Context& ctx, http::verb verb, std::string_view target,
                                            std::string_view body, std::string_view token) {
  return Call(ctx, verb, target, body, token);
}

absl::StatusOr<std::vector<std::string>> FetchFriends(Context& ctx, const Credentials& me) {
  auto doc = Call(ctx, http::verb::get, "/v1/friends", "", me.token);
  if (!doc.ok()) return doc.status();
  auto it = doc->FindMember("friends");
  if (it == doc->MemberEnd() || !it->value.IsArray()) {
    return absl::InternalError("the server's friend list has no \"friends\" array");
  }
  std::vector<std::string> names;
  for (const auto& f : it->value.GetArray()) {
    if (f.IsString()) names.emplace_back(f.GetString(), f.GetStringLength());
  }
  return names;
}

absl::Status Register(Context& ctx, const std::string& user, const std::string& password) {
  auto doc = Call(ctx, http::verb::post, "/v1/register",
                  JsonObject().Add("user", user).Add("password", password).str(), "");
  if (!doc.ok()) return doc.status();
  return PrintLine(JsonObject().Add("user", StringField(*doc, "user").value_or(user)).Add("status", "registered").str());
}

absl::Status Login(Context& ctx, const std::string& user, const std::string& password) {
  auto doc = Call(ctx, http::verb::post, "/v1/login",
                  JsonObject().Add("user", user).Add("password", password).str(), "");
  if (!doc.ok()) return doc.status();
  Credentials c;
  c.server = ToString(ctx.connect.url);
  c.user = user;
  c.token = StringField(*doc, "token").value_or("");
  c.expires_at = IntField(*doc, "expires_at").value_or(0);
  if (c.token.empty()) return absl::InternalError("the server's login answer has no token");
  if (absl::Status s = SaveCredentials(ctx.token_file, c); !s.ok()) return s;
  return PrintLine(JsonObject()
                       .Add("user", c.user)
                       .Add("token", c.token)
                       .Add("expires_at", c.expires_at)
                       .Add("token_file", ctx.token_file)
                       .str());
}

absl::Status RequestFriend(Context& ctx, const std::string& user) {
  auto me = LoadCredentials(ctx.token_file);
  if (!me.ok()) return me.status();
  auto doc = Call(ctx, http::verb::post, "/v1/friends/request", UserBody(user), me->token);
  if (!doc.ok()) return doc.status();
  // A request that the other side had already sent makes the friendship: say which
  // (from the answer's "status" when the server gives it, else from the friend list).
  if (auto status = StringField(*doc, "status"); status == "friends" || status == "requested") {
    return PrintLine(JsonObject().Add("user", user).Add("status", *status).str());
  }
  auto friends = AreFriends(ctx, *me, user);
  if (!friends.ok()) return friends.status();
  return PrintLine(JsonObject().Add("user", user).Add("status", *friends ? "friends" : "requested").str());
}

absl::Status AcceptFriend(Context& ctx, const std::string& user) {
  auto me = LoadCredentials(ctx.token_file);
  if (!me.ok()) return me.status();
  auto doc = Call(ctx, http::verb::post, "/v1/friends/accept", UserBody(user), me->token);
  if (!doc.ok()) {
    if (absl::IsNotFound(doc.status())) {
      return absl::NotFoundError(absl::StrCat("no friend request from ", user, " (",
                                              doc.status().message(), ")"));
    }
    return doc.status();
  }
  return PrintLine(JsonObject().Add("user", user).Add("status", "friends").str());
}

absl::Status ListFriends(Context& ctx) {
  auto me = LoadCredentials(ctx.token_file);
  if (!me.ok()) return me.status();
  auto doc = Call(ctx, http::verb::get, "/v1/friends", "", me->token);
  if (!doc.ok()) return doc.status();
  return PrintLine(Compact(*doc));
}

}  // namespace courier_cli
