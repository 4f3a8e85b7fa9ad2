// metrics.h: the Prometheus text exposition of /metrics.
//
// Thread-safety: a pure function. Blocking: never.
#ifndef COURIER_EXAMPLES_SERVER_METRICS_H_
#define COURIER_EXAMPLES_SERVER_METRICS_H_

#include <string>

#include "courier/engine.h"
#include "courier/notifier.h"
#include "courier/websocket/server.h"

namespace courier::server {

// Text format 0.0.4, in base units (seconds, bytes; counters end in _total):
// courier_build_info{version,commit}, the engine's counters (sends,
// deliveries, acks, reads, commits, queue depth, commit latency) and the
// server's (connections, frames, bytes, closes, send->sent latency
// histogram). The process_* metrics are process_metrics.h's.
std::string PrometheusText(const EngineStats& engine, const websocket::ServerStats& server);

// The push notifier's counters (courier/notifier.h PushStats):
// courier_push_messages_total, _notices_total, _coalesced_total,
// _dropped_total, _skipped_online_total, _no_subscription_total,
// _sent_total, _gone_total, _failed_total, _lookup_errors_total and the
// gauge courier_push_pending.
std::string PushMetricsText(const PushStats& push);

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_METRICS_H_
