// courier/webpush.h: everything of courier::webpush, in reading order.
//   subscription.h  a browser's PushSubscription, parsed strictly
//   encryption.h    RFC 8291 aes128gcm payload encryption
//   vapid.h         RFC 8292 VAPID key file and Authorization header
//   sender.h        the blocking Web Push and webhook senders
#ifndef COURIER_ADAPTERS_WEBPUSH_H_
#define COURIER_ADAPTERS_WEBPUSH_H_

#include "courier/webpush/encryption.h"
#include "courier/webpush/sender.h"
#include "courier/webpush/subscription.h"
#include "courier/webpush/vapid.h"

#endif  // COURIER_ADAPTERS_WEBPUSH_H_
