// push.cc: PushService, the core's PushSender over courier::webpush.
#include "push.h"

#include <utility>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "courier/webpush.h"
#include "push_payload.h"
#include "secrets.h"

namespace courier::server {
namespace {

// Undelivered pushes with the same topic replace each other at the push
// service (RFC 8030 section 5.4): a sleeping phone wakes to one, not ten.
constexpr std::string_view kTopic = "courier-inbox";

PushOutcome FromWebpush(webpush::Outcome o) {
  switch (o) {
    case webpush::Outcome::kDelivered: return PushOutcome::kDelivered;
    case webpush::Outcome::kGone: return PushOutcome::kGone;
    case webpush::Outcome::kGaveUp: return PushOutcome::kGaveUp;
  }
  return PushOutcome::kGaveUp;
}

class WebpushPushSender final : public PushSender {
 public:
  WebpushPushSender(std::unique_ptr<webpush::WebPushSender> devices,
                    std::unique_ptr<webpush::WebhookSender> gateway)
      : devices_(std::move(devices)), gateway_(std::move(gateway)) {}

  PushOutcome ToDevice(const PushNotice& notice, const PushSubscriptionRecord& device) override {
    absl::StatusOr<webpush::Subscription> sub = webpush::ParseSubscriptionJson(device.subscription);
    if (!sub.ok()) {  // stored by an older rule set: useless, drop it
      spdlog::warn("event=push_bad_subscription user={} device={} error=\"{}\"", notice.user,
                   device.device, std::string(sub.status().message()));
      return PushOutcome::kGone;
    }
    const std::string payload = PushPayloadJson(notice, webpush::kMaxPlaintextBytes);
    absl::StatusOr<webpush::SendResult> r = devices_->Send(*sub, payload, kTopic);
    return Log("push", notice, device.device, r);
  }

  PushOutcome ToGateway(const PushNotice& notice) override {
    if (gateway_ == nullptr) return PushOutcome::kDelivered;
    const std::string payload = PushPayloadJson(notice, webpush::kMaxWebhookBodyBytes);
    return Log("push_webhook", notice, "", gateway_->Send(payload));
  }

  bool has_gateway() const override { return gateway_ != nullptr; }

  void Shutdown() {
    devices_->Shutdown();
    if (gateway_ != nullptr) gateway_->Shutdown();
  }

 private:
  static PushOutcome Log(std::string_view what, const PushNotice& notice, std::string_view device,
                         const absl::StatusOr<webpush::SendResult>& r) {
    if (!r.ok()) {
      spdlog::warn("event={} user={} device={} error=\"{}\"", what, notice.user, device,
                   std::string(r.status().message()));
      return PushOutcome::kGaveUp;
    }
    const PushOutcome outcome = FromWebpush(r->outcome);
    auto level = outcome == PushOutcome::kGaveUp ? spdlog::level::warn : spdlog::level::debug;
    spdlog::log(level, "event={} user={} device={} count={} outcome={} attempts={} http_status={} "
                       "detail=\"{}\"",
                what, notice.user, device, notice.count,
                std::string(webpush::OutcomeName(r->outcome)), r->attempts, r->http_status,
                r->detail);
    return outcome;
  }

  std::unique_ptr<webpush::WebPushSender> devices_;
  std::unique_ptr<webpush::WebhookSender> gateway_;
};

class PushServiceImpl final : public PushService {
 public:
  PushServiceImpl(std::string public_key, std::unique_ptr<WebpushPushSender> sender)
      : public_key_(std::move(public_key)), sender_(std::move(sender)) {}
  ~PushServiceImpl() override { Shutdown(); }

  absl::Status Init(const PushNotifierOptions& options, PresenceStore& presence,
                    AccountStore& accounts) {
    absl::StatusOr<std::unique_ptr<PushNotifier>> n =
        NewPushNotifier(options, PushNotifierDeps{&presence, &accounts, sender_.get(), nullptr});
    if (!n.ok()) return n.status();
    notifier_ = *std::move(n);
    return absl::OkStatus();
  }

  Notifier* notifier() override { return notifier_.get(); }
  PushStats stats() const override { return notifier_->stats(); }
  const std::string& vapid_public_key() const override { return public_key_; }

  void Shutdown() override {
    if (notifier_ == nullptr) return;
    sender_->Shutdown();  // the send in progress returns at once
    notifier_->Shutdown();
  }

 private:
  const std::string public_key_;
  std::unique_ptr<WebpushPushSender> sender_;
  std::unique_ptr<PushNotifier> notifier_;
};

absl::Status Named(const std::string& flag, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(flag, ": ", s.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PushService>> PushService::Start(const ServerFlags& flags,
                                                                PresenceStore& presence,
                                                                AccountStore& accounts) {
  const std::string key_path =
      flags.vapid_key_file.empty() ? flags.data_dir + "/vapid-key.pem" : flags.vapid_key_file;
  absl::StatusOr<webpush::VapidKey> key = webpush::VapidKey::LoadOrCreate(key_path);
  if (!key.ok()) return Named(absl::StrCat("--vapid-key-file ", key_path), key.status());
  webpush::SenderOptions options;
  options.max_attempts = static_cast<int>(flags.push_max_attempts);
  options.allow_private_addresses = flags.push_allow_private_addresses;
  const std::string public_key = key->public_key_base64url();
  absl::StatusOr<std::unique_ptr<webpush::WebPushSender>> devices =
      webpush::WebPushSender::Create(*std::move(key), flags.vapid_subject, options);
  if (!devices.ok()) return Named("--vapid-subject", devices.status());
  std::unique_ptr<webpush::WebhookSender> gateway;
  if (!flags.push_webhook.empty()) {
    if (flags.push_webhook_secret_file.empty()) {
      return absl::InvalidArgumentError("--push-webhook needs --push-webhook-secret-file");
    }
    absl::StatusOr<std::string> secret =
        LoadOrCreateSecret(flags.push_webhook_secret_file, /*create=*/false);
    if (!secret.ok()) return Named("--push-webhook-secret-file", secret.status());
    absl::StatusOr<std::unique_ptr<webpush::WebhookSender>> hook =
        webpush::WebhookSender::Create(flags.push_webhook, *std::move(secret), options);
    if (!hook.ok()) return Named("--push-webhook", hook.status());
    gateway = *std::move(hook);
  }
  PushNotifierOptions notifier_options;
  notifier_options.hold_ms = static_cast<TimeMs>(flags.push_hold_ms);
  notifier_options.content = flags.push_content == "full" ? PushContent::kFull : PushContent::kNames;
  auto service = std::make_unique<PushServiceImpl>(
      public_key, std::make_unique<WebpushPushSender>(*std::move(devices), std::move(gateway)));
  if (absl::Status s = service->Init(notifier_options, presence, accounts); !s.ok()) return s;
  return std::unique_ptr<PushService>(std::move(service));
}

absl::StatusOr<std::string> NormalizeSubscription(std::string_view body) {
  absl::StatusOr<webpush::Subscription> sub = webpush::ParseSubscriptionJson(body);
  if (!sub.ok()) return sub.status();
  std::string json = webpush::SubscriptionToJson(*sub);
  if (json.size() > kMaxPushSubscriptionBytes) {
    return absl::InvalidArgumentError("the subscription is too long");
  }
  return json;
}

}  // namespace courier::server
