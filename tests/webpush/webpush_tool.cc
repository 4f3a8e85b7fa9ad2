// webpush_tool: drives courier::webpush from the python tests
// (test_webpush.py), which check its output with independent code.
//
//   webpush_tool encrypt P256DH AUTH            stdin: plaintext; stdout: base64url body
//   webpush_tool vapid KEYFILE ENDPOINT SUBJECT UNIX_SECONDS
//                                               stdout: the Authorization value
//                                               (the key file is created if missing)
//   webpush_tool send ENDPOINT P256DH AUTH KEYFILE [OPTION=VALUE ...]
//                                               stdin: payload
//   webpush_tool webhook URL SECRET [OPTION=VALUE ...]   stdin: JSON body
// send and webhook print one line:
//   {"status":"OK","outcome":"delivered","attempts":1,"http_status":201,"ms":12}
// or {"status":"<error code>","message":"..."} and exit 0; usage errors exit 2.
// Options: max_attempts, backoff_ms, backoff_cap_ms, max_retry_after_ms,
// resolve_ms, connect_ms, read_ms, ttl, urgency (very-low|low|normal|high),
// topic, ca_file, allow_private (0|1; 1 unless given: the tests' receivers
// are on loopback).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "courier/webpush.h"

namespace wp = courier::webpush;

namespace {

int Usage() {
  std::fprintf(stderr, "usage: see the comment at the top of webpush_tool.cc\n");
  return 2;
}

std::string ReadStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

bool ApplyOption(std::string_view arg, wp::SenderOptions& o, std::string& topic) {
  const std::size_t eq = arg.find('=');
  if (eq == std::string_view::npos) return false;
  const std::string key(arg.substr(0, eq));
  const std::string value(arg.substr(eq + 1));
  if (key == "topic") {
    topic = value;
    return true;
  }
  if (key == "urgency") {
    if (value == "very-low")
      o.urgency = wp::Urgency::kVeryLow;
    else if (value == "low")
      o.urgency = wp::Urgency::kLow;
    else if (value == "normal")
      o.urgency = wp::Urgency::kNormal;
    else if (value == "high")
      o.urgency = wp::Urgency::kHigh;
    else
      return false;
    return true;
  }
  if (key == "ca_file") {
    o.ca_file = value;
    return true;
  }
  if (key == "allow_private") {
    if (value != "0" && value != "1") return false;
    o.allow_private_addresses = value == "1";
    return true;
  }
  const long long n = std::stoll(value);
  if (key == "max_attempts")
    o.max_attempts = static_cast<int>(n);
  else if (key == "backoff_ms")
    o.backoff_base = absl::Milliseconds(n);
  else if (key == "backoff_cap_ms")
    o.backoff_cap = absl::Milliseconds(n);
  else if (key == "max_retry_after_ms")
    o.max_retry_after = absl::Milliseconds(n);
  else if (key == "resolve_ms")
    o.resolve_timeout = absl::Milliseconds(n);
  else if (key == "connect_ms")
    o.connect_timeout = absl::Milliseconds(n);
  else if (key == "read_ms")
    o.read_timeout = absl::Milliseconds(n);
  else if (key == "ttl")
    o.ttl_seconds = static_cast<int>(n);
  else
    return false;
  return true;
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void PrintResult(const absl::StatusOr<wp::SendResult>& result,
                 std::chrono::steady_clock::time_point start) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  if (!result.ok()) {
    std::printf("{\"status\":\"%s\",\"message\":\"%s\",\"ms\":%lld}\n",
                absl::StatusCodeToString(result.status().code()).c_str(),
                JsonEscape(std::string(result.status().message())).c_str(),
                static_cast<long long>(ms));
    return;
  }
  std::printf(
      "{\"status\":\"OK\",\"outcome\":\"%s\",\"attempts\":%d,\"http_status\":%d,\"detail\":\"%s\","
      "\"ms\":%lld}\n",
      std::string(wp::OutcomeName(result->outcome)).c_str(), result->attempts, result->http_status,
      JsonEscape(result->detail).c_str(), static_cast<long long>(ms));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string_view cmd = argv[1];
  if (cmd == "encrypt" && argc == 4) {
    auto body = wp::EncryptAes128gcm({"https://push.example/x", argv[2], argv[3]}, ReadStdin());
    if (!body.ok()) {
      std::fprintf(stderr, "%s\n", body.status().ToString().c_str());
      return 1;
    }
    std::printf("%s\n", wp::Base64UrlEncode(*body).c_str());
    return 0;
  }
  if (cmd == "vapid" && argc == 6) {
    auto key = wp::VapidKey::LoadOrCreate(argv[2]);
    if (!key.ok()) {
      std::fprintf(stderr, "%s\n", key.status().ToString().c_str());
      return 1;
    }
    auto header =
        wp::VapidAuthorization(*key, argv[3], argv[4], absl::FromUnixSeconds(std::stoll(argv[5])));
    if (!header.ok()) {
      std::fprintf(stderr, "%s\n", header.status().ToString().c_str());
      return 1;
    }
    std::printf("%s\n", header->c_str());
    return 0;
  }
  wp::SenderOptions options;
  // The tests' receivers are on loopback: allowed unless allow_private=0
  // asks for the library's default policy.
  options.allow_private_addresses = true;
  std::string topic;
  if (cmd == "send" && argc >= 6) {
    for (int i = 6; i < argc; ++i) {
      if (!ApplyOption(argv[i], options, topic)) return Usage();
    }
    auto key = wp::VapidKey::LoadOrCreate(argv[5]);
    if (!key.ok()) return Usage();
    auto sender = wp::WebPushSender::Create(*key, "mailto:ops@example.com", options);
    const auto start = std::chrono::steady_clock::now();
    if (!sender.ok()) {
      PrintResult(sender.status(), start);
      return 0;
    }
    const std::string payload = ReadStdin();
    PrintResult((*sender)->Send({argv[2], argv[3], argv[4]}, payload, topic), start);
    return 0;
  }
  if (cmd == "webhook" && argc >= 4) {
    for (int i = 4; i < argc; ++i) {
      if (!ApplyOption(argv[i], options, topic)) return Usage();
    }
    auto sender = wp::WebhookSender::Create(argv[2], argv[3], options);
    const auto start = std::chrono::steady_clock::now();
    if (!sender.ok()) {
      PrintResult(sender.status(), start);
      return 0;
    }
    const std::string body = ReadStdin();
    PrintResult((*sender)->Send(body), start);
    return 0;
  }
  return Usage();
}
