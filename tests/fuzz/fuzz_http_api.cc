// fuzz_http_api: the example server's HTTP handler (examples/server
// http_api.h) on fuzzed requests, over the memory stores.
//
// Input: byte 0 picks the route and method, byte 1 the Authorization header
// (none, a valid token of "alice", a token of an unknown user, or the next
// bytes up to a NUL as the header), the rest is the body.
// Checked: every answer is a real HTTP status; every JSON answer parses
// (UTF-8 validated) as an object with "error" and "message" on 4xx/5xx; no
// request without a validly signed token changes a friendship.
// /v1/register and /v1/login run Argon2id (64 MiB, ~0.1 s) once their body
// is well formed; those inputs are cut short here after the parsing, which
// is what this target exercises, so that fuzzing keeps its speed.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "accounts.h"
#include "courier/clock.h"
#include "courier/contact_policy.h"
#include "courier/engine.h"
#include "courier/executor.h"
#include "courier/memory.h"
#include "fuzz_check.h"
#include "http_api.h"
#include "jwt.h"
#include "rapidjson/document.h"

namespace {

using courier::websocket::HttpRequest;
using courier::websocket::HttpResponse;

struct World {
  courier::ManualClock clock{1'800'000'000'000};
  courier::ManualExecutor executor;
  std::unique_ptr<courier::MessageStore> messages = courier::memory::OpenMessageStore();
  std::unique_ptr<courier::AccountStore> accounts = courier::memory::OpenAccountStore();
  std::unique_ptr<courier::PresenceStore> presence = courier::memory::OpenPresenceStore(clock);
  std::unique_ptr<courier::ContactPolicy> contacts = courier::MakeFriendsOnlyPolicy(*accounts);
  std::unique_ptr<courier::Engine> engine;
  std::unique_ptr<courier::server::Accounts> users;
  std::unique_ptr<courier::server::HttpApi> api;
  std::string alice_token;
  std::string ghost_token;
  const std::string vapid_public_key = "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U";

  World() {
    courier::EngineOptions options;
    options.clock = &clock;
    options.commit_executor = &executor;
    options.delivery_executor = &executor;
    engine = *courier::Engine::Create(
        options, courier::Engine::Deps{messages.get(), presence.get(), contacts.get(),
                                       accounts.get()});
    auto signer = *courier::server::TokenSigner::Create(std::string(32, 'j'));
    alice_token = signer.Issue("alice", clock.NowMs(), 3'600'000).token;
    ghost_token = signer.Issue("ghost", clock.NowMs(), 3'600'000).token;
    users = *courier::server::Accounts::Create(*accounts, std::move(signer), clock, 3'600'000);
    for (const char* u : {"alice", "bob", "carol"}) {
      FUZZ_CHECK(accounts->CreateUser(u, "hash", 0).ok(), "cannot create %s", u);
    }
    api = std::make_unique<courier::server::HttpApi>(
        courier::server::ApiDeps{users.get(), accounts.get(), engine.get(), &vapid_public_key});
  }
};

World& TheWorld() {
  static World* world = new World();  // lives for the whole run
  return *world;
}

// True when `body` would reach Argon2id on /v1/register or /v1/login.
bool WouldHash(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  return doc.HasMember("user") && doc["user"].IsString() && doc.HasMember("password") &&
         doc["password"].IsString();
}

std::size_t FriendCount(World& w, const char* user) {
  auto f = w.accounts->Friends(user);
  auto p = w.accounts->PendingRequests(user);
  return (f.ok() ? f->size() : 0) + (p.ok() ? p->size() : 0);
}

std::size_t PushSubscriptionCount(World& w, const char* user) {
  auto subs = w.accounts->PushSubscriptions(user);
  return subs.ok() ? subs->size() : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  World& w = TheWorld();
  static constexpr struct {
    const char* method;
    const char* path;
  } kRoutes[] = {{"POST", "/v1/register"},       {"POST", "/v1/login"},
                 {"POST", "/v1/friends/request"}, {"POST", "/v1/friends/accept"},
                 {"GET", "/v1/friends"},          {"GET", "/healthz"},
                 {"GET", "/metrics"},             {"GET", "/"},
                 {"POST", "/v1/friends"},         {"GET", "/index.html"},
                 {"PUT", "/v1/devices/phone/push"}, {"DELETE", "/v1/devices/phone/push"},
                 {"GET", "/v1/push/vapid-public-key"}, {"PUT", "/v1/devices/bad*name/push"}};
  const auto& route = kRoutes[data[0] % (sizeof(kRoutes) / sizeof(kRoutes[0]))];
  HttpRequest request;
  request.method = route.method;
  request.path = route.path;
  request.remote = "127.0.0.1:1";
  std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  bool authorized = false;
  switch (data[1] % 4) {
    case 0:
      break;
    case 1:
      request.headers.emplace_back("Authorization", "Bearer " + w.alice_token);
      authorized = true;
      break;
    case 2:
      request.headers.emplace_back("authorization", "bearer " + w.ghost_token);
      authorized = true;  // validly signed, for a user that does not exist
      break;
    default: {
      std::size_t nul = rest.find('\0');
      std::string_view header = rest.substr(0, nul);
      request.headers.emplace_back("Authorization", std::string(header));
      rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
      break;
    }
  }
  request.body = std::string(rest);
  const std::string_view path = request.path;
  if ((path == "/v1/register" || path == "/v1/login") && WouldHash(request.body)) return 0;

  const std::size_t before = FriendCount(w, "alice") + FriendCount(w, "bob");
  const std::size_t subs_before = PushSubscriptionCount(w, "alice");
  HttpResponse r = w.api->Handle(request);
  w.executor.RunAll();
  FUZZ_CHECK(r.status >= 200 && r.status < 600, "status %d", r.status);
  if (r.content_type == "application/json") {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(r.body.data(), r.body.size());
    FUZZ_CHECK(!doc.HasParseError() && doc.IsObject(), "answer is not a JSON object: %s",
               r.body.c_str());
    if (r.status >= 400) {
      FUZZ_CHECK(doc.HasMember("error") && doc["error"].IsString() && doc.HasMember("message"),
                 "error answer without error/message: %s", r.body.c_str());
    }
  }
  if (!authorized) {
    FUZZ_CHECK(FriendCount(w, "alice") + FriendCount(w, "bob") == before,
               "a request without alice's token changed friendships (status %d)", r.status);
    FUZZ_CHECK(PushSubscriptionCount(w, "alice") == subs_before,
               "a request without alice's token changed her push subscriptions (status %d)",
               r.status);
  }
  return 0;
}
