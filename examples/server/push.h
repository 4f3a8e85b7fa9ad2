// push.h: courier-server's push notifications (issue 16; courier/notifier.h).
//
// Wires the core's push notifier to courier::webpush:
//  * the VAPID key pair, a PEM file in the data dir (--vapid-key-file,
//    default DIR/vapid-key.pem, created with mode 0600 if missing; the nodes
//    of a cluster share it like the other key files);
//  * a Web Push sender for each device's stored subscription, and with
//    --push-webhook a signed JSON POST per notice to the operator's gateway
//    (--push-webhook-secret-file, at least 16 bytes);
//  * the payload of push_payload.h, names only unless --push-content full.
// A device's subscription is stored as the normalized JSON of
// webpush::SubscriptionToJson (NormalizeSubscription below).
//
// Ownership: the caller owns the PushService; it borrows the presence and
//   account stores, which must outlive it. Give notifier() to the engine's
//   Deps; destroy the engine first.
// Thread-safety: every method may be called from any thread.
// Blocking: Start does file I/O; Shutdown waits for the push being sent to
//   be cancelled (milliseconds) and joins the worker.
#ifndef COURIER_EXAMPLES_SERVER_PUSH_H_
#define COURIER_EXAMPLES_SERVER_PUSH_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "courier/account_store.h"
#include "courier/notifier.h"
#include "courier/presence_store.h"
#include "options.h"

namespace courier::server {

class PushService {
 public:
  // Errors name the flag: kInvalidArgument (a bad key file, subject,
  // webhook URL or secret), kNotFound / kPermissionDenied (files).
  static absl::StatusOr<std::unique_ptr<PushService>> Start(const ServerFlags& flags,
                                                            PresenceStore& presence,
                                                            AccountStore& accounts);
  virtual ~PushService() = default;

  // For Engine::Deps::notifier.
  virtual Notifier* notifier() = 0;
  virtual PushStats stats() const = 0;
  // The applicationServerKey for the page (base64url, 65-byte point).
  virtual const std::string& vapid_public_key() const = 0;
  // Cancels the sends in progress, stops the worker; pending notices are
  // dropped (counted). Call after Engine::Shutdown. Idempotent.
  virtual void Shutdown() = 0;
};

// A PUT /v1/devices/{device}/push body (PushSubscription.toJSON()) checked
// by webpush::ParseSubscriptionJson and written back in normal form: what
// the account store keeps. kInvalidArgument with the rule that failed.
absl::StatusOr<std::string> NormalizeSubscription(std::string_view body);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_PUSH_H_
