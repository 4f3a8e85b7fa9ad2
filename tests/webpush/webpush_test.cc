// courier::webpush unit tests: the RFC 8291 example byte for byte, the
// subscription and URL rules, VAPID key files and tokens, the HTTP answer
// reader, the retry policy and Shutdown. The independent checks (decryption,
// ES256 verification, real receivers) are in test_webpush.py.
#include "courier/webpush.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "address_policy.h"
#include "delivery.h"
#include "http_response.h"
#include "support/status_matchers.h"
#include "support/temp_dir.h"

namespace wp = courier::webpush;
using courier::testing::StatusIs;

namespace {

std::string Raw(std::string_view b64) { return *wp::Base64UrlDecode(b64); }

// RFC 8291 section 5 (the example's values, line breaks removed).
constexpr char kUaPublic[] =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr char kAuth[] = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr char kAsPrivate[] = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr char kSalt[] = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr char kBody[] =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vC"
    "YLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXL"
    "WyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

wp::Subscription GoodSubscription() {
  return {"https://push.example.net/wpush/v2/abc", kUaPublic, kAuth};
}

std::string SubscriptionJson(std::string_view endpoint, std::string_view p256dh,
                             std::string_view auth) {
  return std::string(R"({"endpoint":")") + std::string(endpoint) +
         R"(","expirationTime":null,"keys":{"p256dh":")" + std::string(p256dh) + R"(","auth":")" +
         std::string(auth) + R"("}})";
}

void RequireInvalid(std::string_view json, std::string_view says) {
  auto sub = wp::ParseSubscriptionJson(json);
  INFO(json);
  REQUIRE_THAT(sub.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  INFO(sub.status().message());
  REQUIRE(std::string(sub.status().message()).find(says) != std::string::npos);
}

// A TCP listener on 127.0.0.1 with a free port; closed when destroyed.
// Nothing accepts on it unless the test does: connects succeed (backlog).
class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~LoopbackListener() { ::close(fd_); }
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  int fd() const { return fd_; }
  std::string Url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace

TEST_CASE("EncryptAes128gcm reproduces the RFC 8291 example byte for byte") {
  wp::EncryptOptions options;
  options.salt = Raw(kSalt);
  options.sender_private_key = Raw(kAsPrivate);
  auto body = wp::EncryptAes128gcm({"https://push.example.net/x", kUaPublic, kAuth},
                                   "When I grow up, I want to be a watermelon", options);
  COURIER_REQUIRE_OK(body);
  REQUIRE(wp::Base64UrlEncode(*body) == kBody);
  REQUIRE(*body == Raw(kBody));
}

TEST_CASE("EncryptAes128gcm: limits and bad inputs") {
  const wp::Subscription sub = GoodSubscription();
  auto max = wp::EncryptAes128gcm(sub, std::string(wp::kMaxPlaintextBytes, 'a'));
  COURIER_REQUIRE_OK(max);
  REQUIRE(max->size() == 4096);
  REQUIRE_THAT(wp::EncryptAes128gcm(sub, std::string(wp::kMaxPlaintextBytes + 1, 'a')).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  wp::EncryptOptions bad_salt;
  bad_salt.salt = "short";
  REQUIRE_THAT(wp::EncryptAes128gcm(sub, "x", bad_salt).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  wp::EncryptOptions zero_key;
  zero_key.sender_private_key = std::string(32, '\0');
  REQUIRE_THAT(wp::EncryptAes128gcm(sub, "x", zero_key).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  wp::Subscription bad = sub;
  bad.auth = "AAAA";
  REQUIRE_THAT(wp::EncryptAes128gcm(bad, "x").status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  // Two messages never share a salt or a sender key.
  auto a = wp::EncryptAes128gcm(sub, "same");
  auto b = wp::EncryptAes128gcm(sub, "same");
  REQUIRE(a->substr(0, 16) != b->substr(0, 16));
  REQUIRE(a->substr(21, 65) != b->substr(21, 65));
}

TEST_CASE("base64url round-trips and refuses what is not base64url") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"}) {
    auto back = wp::Base64UrlDecode(wp::Base64UrlEncode(s));
    COURIER_REQUIRE_OK(back);
    REQUIRE(*back == s);
  }
  REQUIRE(wp::Base64UrlEncode("\xfb\xff") == "-_8");
  REQUIRE(*wp::Base64UrlDecode("Zm9vYg==") == "foob");
  REQUIRE(*wp::Base64UrlDecode("Zm9vYg") == "foob");
  for (std::string_view bad :
       {"Zm9v+g", "Zm9v/g", "Zm9vY", "Zm9vYg=", "Zm9vYh", "Zm 9v", "=", "Zg===", "Zm9vYg=a"}) {
    INFO(bad);
    REQUIRE_THAT(wp::Base64UrlDecode(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_CASE("ParseSubscriptionJson accepts what PushSubscription.toJSON() gives") {
  auto sub = wp::ParseSubscriptionJson(
      SubscriptionJson("https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b", kUaPublic, kAuth));
  COURIER_REQUIRE_OK(sub);
  REQUIRE(sub->endpoint == "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b");
  REQUIRE(sub->p256dh == kUaPublic);
  REQUIRE(sub->auth == kAuth);
  // expirationTime as a number, padding on the keys, unknown members: fine.
  auto padded = wp::ParseSubscriptionJson(
      std::string(R"({"endpoint":"https://p.example/x","expirationTime":1700000000000,"x":[1],)") +
      R"("keys":{"p256dh":")" + kUaPublic + R"(=","auth":")" + kAuth + R"(==","y":2}})");
  COURIER_REQUIRE_OK(padded);
  REQUIRE(padded->auth == kAuth);
  REQUIRE(padded->p256dh == kUaPublic);
  // Round trip.
  auto again = wp::ParseSubscriptionJson(wp::SubscriptionToJson(*sub));
  COURIER_REQUIRE_OK(again);
  REQUIRE(*again == *sub);
  // http for loopback only.
  COURIER_REQUIRE_OK(
      wp::ParseSubscriptionJson(SubscriptionJson("http://127.0.0.1:8080/p", kUaPublic, kAuth)));
  COURIER_REQUIRE_OK(
      wp::ParseSubscriptionJson(SubscriptionJson("http://[::1]:8080/p", kUaPublic, kAuth)));
  COURIER_REQUIRE_OK(
      wp::ParseSubscriptionJson(SubscriptionJson("http://localhost/p", kUaPublic, kAuth)));
}

TEST_CASE("ParseSubscriptionJson refuses bad bodies with a clear error") {
  const std::string off_curve =
      wp::Base64UrlEncode(std::string("\x04", 1) + std::string(64, '\x01'));
  const std::string compressed = wp::Base64UrlEncode(Raw(kUaPublic).substr(0, 33));
  RequireInvalid("", "not JSON");
  RequireInvalid("{", "not JSON");
  RequireInvalid("[1]", "not a JSON object");
  RequireInvalid(R"({"endpoint":"\u00ff\ud800"})", "not JSON");
  RequireInvalid(std::string(5000, ' '), "larger than 4096");
  RequireInvalid(R"({"keys":{}})", "\"endpoint\" is missing");
  RequireInvalid(R"({"endpoint":7,"keys":{}})", "\"endpoint\" is missing or not a string");
  RequireInvalid(R"({"endpoint":"https://p.example/x"})", "\"keys\" is missing");
  RequireInvalid(R"({"endpoint":"https://p.example/x","keys":[]})", "\"keys\" is missing");
  RequireInvalid(R"({"endpoint":"https://p.example/x","keys":{"auth":"x"}})", "keys.p256dh");
  RequireInvalid(
      std::string(R"({"endpoint":"https://p.example/x","keys":{"p256dh":")") + kUaPublic + "\"}}",
      "keys.auth");
  RequireInvalid(
      std::string(R"({"endpoint":"https://p.example/x","expirationTime":"soon","keys":{}})"),
      "expirationTime");
  // Endpoints, each with the words its error must say.
  const std::pair<std::string, std::string_view> kBadEndpoints[] = {
      {"http://push.example.net/x", "https"},
      {"http://10.0.0.1/x", "https"},
      {"ftp://p.example/x", "scheme"},
      {"p.example/x", "no scheme"},
      {"https://user:pw@p.example/x", "user info"},
      {"https://p.example/x#frag", "fragment"},
      {"https://p.example/a b", "space"},
      {"https://p.example:0/x", "port"},
      {"https://p.example:65536/x", "port"},
      {"https://p_x.example/x", "host"},
      {"https:///x", "no host"},
      {"https://[::1/x", "["},
  };
  for (const auto& [endpoint, says] : kBadEndpoints) {
    RequireInvalid(SubscriptionJson(endpoint, kUaPublic, kAuth), says);
  }
  RequireInvalid(SubscriptionJson("https://p.example/" + std::string(2100, 'a'), kUaPublic, kAuth),
                 "longer than 2048");
  RequireInvalid(SubscriptionJson("https://p.example/x", off_curve, kAuth),
                 "not an uncompressed P-256");
  RequireInvalid(SubscriptionJson("https://p.example/x", compressed, kAuth), "65 bytes, not 33");
  RequireInvalid(SubscriptionJson("https://p.example/x", "AAAA+/", kAuth),
                 "keys.p256dh: base64url");
  RequireInvalid(SubscriptionJson("https://p.example/x", kUaPublic, "BTBZMqHH6r4Tts7J_aSI"),
                 "keys.auth must decode to 16 bytes");
  RequireInvalid(SubscriptionJson("https://p.example/x", kUaPublic, std::string(200, 'A')),
                 "keys.auth is too long");
}

TEST_CASE("ParseUrl splits endpoints and names their origin") {
  auto a = wp::ParseUrl("HTTPS://Push.Example.NET/wpush/v2/x?y=1");
  COURIER_REQUIRE_OK(a);
  REQUIRE(a->https);
  REQUIRE(a->host == "push.example.net");
  REQUIRE(a->port == 443);
  REQUIRE(a->target == "/wpush/v2/x?y=1");
  REQUIRE(a->Origin() == "https://push.example.net");
  auto b = wp::ParseUrl("http://[::1]:8080?q");
  COURIER_REQUIRE_OK(b);
  REQUIRE(b->host == "::1");
  REQUIRE(b->ipv6_literal);
  REQUIRE(b->port == 8080);
  REQUIRE(b->target == "/?q");
  REQUIRE(b->Origin() == "http://[::1]:8080");
  REQUIRE(wp::ParseUrl("https://p.example:443")->Origin() == "https://p.example");
  REQUIRE(wp::ParseUrl("https://p.example:8443")->Origin() == "https://p.example:8443");
  REQUIRE(wp::IsLoopbackHost("127.1.2.3"));
  REQUIRE(wp::IsLoopbackHost("::1"));
  REQUIRE(wp::IsLoopbackHost("LocalHost"));
  REQUIRE_FALSE(wp::IsLoopbackHost("128.0.0.1"));
  REQUIRE_FALSE(wp::IsLoopbackHost("localhost.example"));
  REQUIRE_FALSE(wp::IsLoopbackHost("::2"));
}

TEST_CASE("VapidKey::LoadOrCreate creates a 0600 key file once and loads it after") {
  courier::testing::TempDir dir;
  const std::string path = dir.path() + "/vapid.pem";
  auto created = wp::VapidKey::LoadOrCreate(path);
  COURIER_REQUIRE_OK(created);
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  REQUIRE((st.st_mode & 0777) == 0600);
  auto loaded = wp::VapidKey::LoadOrCreate(path);
  COURIER_REQUIRE_OK(loaded);
  REQUIRE(loaded->public_key_base64url() == created->public_key_base64url());
  REQUIRE(Raw(created->public_key_base64url()).size() == 65);
  REQUIRE(created->private_key_pem().find("BEGIN PRIVATE KEY") != std::string::npos);

  const std::string bad = dir.path() + "/bad.pem";
  std::ofstream(bad) << "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  REQUIRE_THAT(wp::VapidKey::LoadOrCreate(bad).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  std::ifstream kept(bad);
  std::string first;
  std::getline(kept, first);
  REQUIRE(first == "-----BEGIN PRIVATE KEY-----");
  REQUIRE_THAT(wp::VapidKey::LoadOrCreate(dir.path() + "/missing/dir/vapid.pem").status(),
               StatusIs(absl::StatusCode::kNotFound));
}

TEST_CASE("VapidAuthorization: shape, lifetime and subject rules") {
  auto key = wp::VapidKey::Generate();
  COURIER_REQUIRE_OK(key);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto header = wp::VapidAuthorization(*key, "https://push.example.net/x", "mailto:a@b.c", now);
  COURIER_REQUIRE_OK(header);
  const std::string& h = *header;
  REQUIRE(h.rfind("vapid t=", 0) == 0);
  const std::size_t k = h.find(", k=");
  REQUIRE(k != std::string::npos);
  REQUIRE(h.substr(k + 4) == key->public_key_base64url());
  const std::string token = h.substr(8, k - 8);
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.rfind('.');
  REQUIRE(*wp::Base64UrlDecode(token.substr(0, dot1)) == R"({"typ":"JWT","alg":"ES256"})");
  REQUIRE(*wp::Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1)) ==
          R"({"aud":"https://push.example.net","exp":1800043200,"sub":"mailto:a@b.c"})");
  REQUIRE(wp::Base64UrlDecode(token.substr(dot2 + 1))->size() == 64);

  REQUIRE_THAT(wp::VapidAuthorization(*key, "https://p.example/x", "mailto:a@b.c", now,
                                      absl::Hours(24) + absl::Seconds(1))
                   .status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  REQUIRE_THAT(
      wp::VapidAuthorization(*key, "https://p.example/x", "mailto:a@b.c", now, absl::ZeroDuration())
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument));
  for (std::string_view subject :
       {"", "a@b.c", "mailto:", "http://example.com", "mailto:a\"@b.c", "mailto:a b@c"}) {
    INFO(subject);
    REQUIRE_THAT(wp::VapidAuthorization(*key, "https://p.example/x", subject, now).status(),
                 StatusIs(absl::StatusCode::kInvalidArgument));
  }
  REQUIRE_THAT(wp::VapidAuthorization(*key, "not a url", "mailto:a@b.c", now).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("ParseResponseHead reads status and Retry-After, waits for more, refuses junk") {
  using courier::webpush::internal::ParseResponseHead;
  REQUIRE_FALSE(ParseResponseHead("HTTP/1.1 201 Created\r\nLocation: /x\r\n")->has_value());
  auto head = ParseResponseHead("HTTP/1.1 429 Too Many\r\nretry-after:  30 \r\nX: y\r\n\r\nbody");
  COURIER_REQUIRE_OK(head);
  REQUIRE((*head)->status == 429);
  REQUIRE((*head)->retry_after == "30");
  REQUIRE((*head)->size ==
          std::string("HTTP/1.1 429 Too Many\r\nretry-after:  30 \r\nX: y\r\n\r\n").size());
  auto after_continue = ParseResponseHead("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 201\r\n\r\n");
  COURIER_REQUIRE_OK(after_continue);
  REQUIRE((*after_continue)->status == 201);
  REQUIRE_FALSE((*after_continue)->retry_after.has_value());
  REQUIRE_FALSE(ParseResponseHead("HTTP/1.1 100 Continue\r\n\r\n")->has_value());
  static constexpr char kNulInValue[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
  std::string interim;
  for (int i = 0; i < 5; ++i) interim += "HTTP/1.1 100 Continue\r\n\r\n";
  REQUIRE_THAT(ParseResponseHead(interim + "HTTP/1.1 201 Created\r\n\r\n").status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  REQUIRE((*ParseResponseHead(interim.substr(interim.size() / 5) + "HTTP/1.1 201 Created\r\n\r\n"))
              ->status == 201);
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 101; ++i) many += "X: y\r\n";
  many += "\r\n";
  for (const std::string& bad :
       {std::string("HTTP/1.1 201 Created\nX: y\n\n"), std::string("HTTP/2 201\r\n\r\n"),
        std::string("HTTP/1.1 20x\r\n\r\n"), std::string("HTTP/1.1 2010\r\n\r\n"),
        std::string("HTTP/1.1 099\r\n\r\n"), std::string("HTTP/1.1 600\r\n\r\n"),
        std::string("HTTP/1.1 101 Switching\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nX: y\r\n folded\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nBad Name: y\r\n\r\n"),
        std::string(kNulInValue, sizeof kNulInValue - 1), many}) {
    INFO(bad);
    REQUIRE_THAT(ParseResponseHead(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_CASE("ParseRetryAfter: seconds and HTTP dates") {
  using courier::webpush::internal::ParseRetryAfter;
  const absl::Time now = absl::FromUnixSeconds(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  REQUIRE(ParseRetryAfter("120", now) == absl::Seconds(120));
  REQUIRE(ParseRetryAfter("0", now) == absl::ZeroDuration());
  REQUIRE(ParseRetryAfter("Sun, 06 Nov 1994 08:50:07 GMT", now) == absl::Seconds(30));
  REQUIRE(ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now) == absl::ZeroDuration());
  for (std::string_view bad : {"", "-1", "1.5", "1234567890", "soon",
                               "Sun, 06 Nov 1994 08:50:07 UTC", "Xyz, 99 Nov 1994 08:50:07 GMT"}) {
    INFO(bad);
    REQUIRE_FALSE(ParseRetryAfter(bad, now).has_value());
  }
}

TEST_CASE("Retry policy: which answers retry, and the backoff") {
  using namespace courier::webpush::internal;
  REQUIRE(ClassifyHttpStatus(201) == Verdict::kDelivered);
  REQUIRE(ClassifyHttpStatus(204) == Verdict::kDelivered);
  REQUIRE(ClassifyHttpStatus(404) == Verdict::kGone);
  REQUIRE(ClassifyHttpStatus(410) == Verdict::kGone);
  REQUIRE(ClassifyHttpStatus(429) == Verdict::kRetry);
  REQUIRE(ClassifyHttpStatus(500) == Verdict::kRetry);
  REQUIRE(ClassifyHttpStatus(503) == Verdict::kRetry);
  for (int s : {301, 302, 400, 401, 403, 413}) REQUIRE(ClassifyHttpStatus(s) == Verdict::kGiveUp);
  REQUIRE(ClassifyError(absl::UnavailableError("x")) == Verdict::kRetry);
  REQUIRE(ClassifyError(absl::DeadlineExceededError("x")) == Verdict::kRetry);
  REQUIRE(ClassifyError(absl::FailedPreconditionError("x")) == Verdict::kGiveUp);
  const absl::Duration base = absl::Milliseconds(500);
  const absl::Duration cap = absl::Seconds(30);
  REQUIRE(BackoffDelay(1, base, cap, 1.0) == absl::Milliseconds(500));
  REQUIRE(BackoffDelay(1, base, cap, 0.0) == absl::Milliseconds(250));
  REQUIRE(BackoffDelay(3, base, cap, 1.0) == absl::Seconds(2));
  REQUIRE(BackoffDelay(20, base, cap, 1.0) == cap);
  REQUIRE(BackoffDelay(1000, base, cap, 0.0) == cap / 2);
}

TEST_CASE("WebhookSignature is HMAC-SHA256 over timestamp.body, lower-case hex") {
  // Known answer computed with Python's hmac module.
  REQUIRE(wp::WebhookSignature("key-0123456789abcdef", 1700000000, R"({"a":1})") ==
          "sha256=8a091117e0b1ccf5034d0d8c06ab42b29a4451a72f95b56f22afaf6bfb7af0d3");
  // The worked example of adapters/webpush/README.md and docs/PROTOCOL.md.
  REQUIRE(wp::WebhookSignature("0123456789abcdef", 1765000000,
                               R"({"type":"inbox","user":"bob","count":3,"senders":["alice"]})") ==
          "sha256=a579105ff4cd7cf41823f542010b34c225c2e76ad21cc54eabb51f767178120f");
}

TEST_CASE("Senders validate their inputs before any I/O") {
  auto key = wp::VapidKey::Generate();
  COURIER_REQUIRE_OK(key);
  REQUIRE_THAT(wp::WebPushSender::Create(*key, "ops@example.com").status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  wp::SenderOptions bad;
  bad.max_attempts = 0;
  REQUIRE_THAT(wp::WebPushSender::Create(*key, "mailto:a@b.c", bad).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  wp::SenderOptions no_ca;
  no_ca.ca_file = "/nonexistent/ca.pem";
  REQUIRE_THAT(wp::WebPushSender::Create(*key, "mailto:a@b.c", no_ca).status(),
               StatusIs(absl::StatusCode::kNotFound));
  auto sender = wp::WebPushSender::Create(*key, "mailto:a@b.c");
  COURIER_REQUIRE_OK(sender);
  REQUIRE_THAT((*sender)->Send(GoodSubscription(), std::string(4000, 'x')).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  REQUIRE_THAT((*sender)->Send(GoodSubscription(), "x", "bad topic!").status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  REQUIRE_THAT((*sender)->Send(GoodSubscription(), "x", std::string(33, 'a')).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  wp::Subscription http_remote = GoodSubscription();
  http_remote.endpoint = "http://push.example.net/x";
  REQUIRE_THAT((*sender)->Send(http_remote, "x").status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  REQUIRE_THAT(wp::WebhookSender::Create("ftp://x/y", std::string(16, 's')).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  REQUIRE_THAT(wp::WebhookSender::Create("https://gw.example/push", "short").status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
  auto hook = wp::WebhookSender::Create("https://gw.example/push", std::string(16, 's'));
  COURIER_REQUIRE_OK(hook);
  REQUIRE_THAT((*hook)->Send(std::string(wp::kMaxWebhookBodyBytes + 1, ' ')).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_CASE("Shutdown ends a Send stuck on a silent receiver, and refuses later ones") {
  // A listener that never accepts: connect succeeds (backlog), no answer comes.
  LoopbackListener listener;
  const std::string url = listener.Url("/hook");
  wp::SenderOptions options;
  options.read_timeout = absl::Seconds(30);
  auto hook = wp::WebhookSender::Create(url, std::string(16, 's'), options);
  COURIER_REQUIRE_OK(hook);
  absl::StatusOr<wp::SendResult> result = absl::UnknownError("not run");
  const auto start = std::chrono::steady_clock::now();
  std::thread sender([&] { result = (*hook)->Send("{}"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  (*hook)->Shutdown();
  sender.join();
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_THAT(result.status(), StatusIs(absl::StatusCode::kCancelled));
  REQUIRE(took < std::chrono::seconds(5));
  REQUIRE_THAT((*hook)->Send("{}").status(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_CASE("One sender and one key serve several threads at once") {
  // A loopback receiver answering every request with 201 (one thread per
  // connection is not needed: each request is small and answered at once).
  LoopbackListener listener;
  const timeval accept_timeout{10, 0};  // never hang the test if a Send goes astray
  REQUIRE(::setsockopt(listener.fd(), SOL_SOCKET, SO_RCVTIMEO, &accept_timeout,
                       sizeof accept_timeout) == 0);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5;
  std::thread receiver([fd = listener.fd()] {
    for (int i = 0; i < kThreads * kPerThread; ++i) {
      const int conn = ::accept(fd, nullptr, nullptr);
      if (conn < 0) return;
      std::string request;
      char buf[4096];
      // Read the head, then Content-Length bytes of body.
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(conn, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      const std::size_t cl = request.find("Content-Length: ");
      const std::size_t want = request.find("\r\n\r\n") + 4 + std::stoul(request.substr(cl + 16));
      while (request.size() < want) {
        const ssize_t n = ::read(conn, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      const std::string answer = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
      [[maybe_unused]] ssize_t w = ::write(conn, answer.data(), answer.size());
      ::close(conn);
    }
  });
  auto key = wp::VapidKey::Generate();
  COURIER_REQUIRE_OK(key);
  wp::SenderOptions options;
  options.allow_private_addresses = true;  // the receiver is on loopback
  auto sender = wp::WebPushSender::Create(*key, "mailto:a@b.c", options);
  COURIER_REQUIRE_OK(sender);
  wp::Subscription sub = GoodSubscription();
  sub.endpoint = listener.Url("/p");
  std::atomic<int> delivered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = (*sender)->Send(sub, "hello");
        if (r.ok() && r->outcome == wp::Outcome::kDelivered && r->attempts == 1) ++delivered;
      }
    });
  }
  for (auto& t : threads) t.join();
  receiver.join();
  REQUIRE(delivered == kThreads * kPerThread);
}

namespace {

bool PublicText(const char* text) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    REQUIRE(::inet_pton(AF_INET6, text, &v6->sin6_addr) == 1);
    v6->sin6_family = AF_INET6;
  }
  return wp::internal::IsPublicAddress(*reinterpret_cast<const sockaddr*>(&storage));
}

}  // namespace

TEST_CASE("IsPublicAddress: what a push to a user's endpoint may reach") {
  for (const char* inside :
       {"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "100.64.0.1", "100.127.255.254", "0.0.0.0", "0.1.2.3", "224.0.0.1",
        "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.7", "198.51.100.1",
        "203.0.113.9", "198.18.0.1", "198.19.255.255", "192.0.0.8", "::", "::1", "::127.0.0.1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1", "fc00::1",
        "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "100::1", "2001:db8::1",
        "2001:0:4136:e378::1"}) {
    INFO(inside);
    CHECK_FALSE(PublicText(inside));
  }
  for (const char* outside :
       {"1.1.1.1", "8.8.8.8", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1",
        "192.169.0.1", "169.255.0.1", "223.255.255.255", "198.20.0.1", "2606:4700::1111",
        "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
        "2001:4860::8888"}) {
    INFO(outside);
    CHECK(PublicText(outside));
  }
  sockaddr unix_family{};
  unix_family.sa_family = AF_UNIX;
  CHECK_FALSE(wp::internal::IsPublicAddress(unix_family));
}

TEST_CASE("A Web Push to a loopback endpoint is refused by default, before any connection") {
  LoopbackListener listener;
  auto key = wp::VapidKey::Generate();
  COURIER_REQUIRE_OK(key);
  wp::SenderOptions options;
  options.max_attempts = 3;
  auto sender = wp::WebPushSender::Create(*key, "mailto:a@b.c", options);
  COURIER_REQUIRE_OK(sender);
  wp::Subscription sub = GoodSubscription();
  sub.endpoint = listener.Url("/p");
  auto r = (*sender)->Send(sub, "hello");
  COURIER_REQUIRE_OK(r);
  CHECK(r->outcome == wp::Outcome::kGaveUp);
  CHECK(r->attempts == 1);
  CHECK(r->detail.find("127.0.0.1, not a public address") != std::string::npos);
  // Nothing reached the listener: accept finds no connection.
  REQUIRE(::fcntl(listener.fd(), F_SETFL, O_NONBLOCK) == 0);
  CHECK(::accept(listener.fd(), nullptr, nullptr) < 0);
  // The webhook's URL is the operator's: loopback is fine there (a refused
  // connection, not a refused address).
  wp::SenderOptions once;
  once.max_attempts = 1;
  auto hook = wp::WebhookSender::Create("http://127.0.0.1:1/hook", std::string(16, 's'), once);
  COURIER_REQUIRE_OK(hook);
  auto h = (*hook)->Send("{}");
  COURIER_REQUIRE_OK(h);
  CHECK(h->detail.find("not a public address") == std::string::npos);
}

TEST_CASE("A name lookup is bounded by resolve_timeout, and a failed one is named") {
  auto key = wp::VapidKey::Generate();
  COURIER_REQUIRE_OK(key);
  wp::SenderOptions options;
  options.max_attempts = 1;
  options.resolve_timeout = absl::Milliseconds(300);
  auto sender = wp::WebPushSender::Create(*key, "mailto:a@b.c", options);
  COURIER_REQUIRE_OK(sender);
  wp::Subscription sub = GoodSubscription();
  sub.endpoint = "https://push.invalid/p";  // RFC 6761: never resolves
  const auto start = std::chrono::steady_clock::now();
  auto r = (*sender)->Send(sub, "hello");
  COURIER_REQUIRE_OK(r);
  CHECK(r->outcome == wp::Outcome::kGaveUp);
  CHECK(r->detail.find("resolve push.invalid") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
  wp::SenderOptions bad;
  bad.resolve_timeout = absl::ZeroDuration();
  REQUIRE_THAT(wp::WebPushSender::Create(*key, "mailto:a@b.c", bad).status(),
               StatusIs(absl::StatusCode::kInvalidArgument));
}
