// metrics.cc: Prometheus text, one HELP/TYPE pair per metric.
#include "metrics.h"

#include <fmt/format.h>

#include <iterator>

#include "courier/version.h"

namespace courier::server {
namespace {

void Metric(std::string& out, const char* name, const char* type, const char* help,
            double value) {
  fmt::format_to(std::back_inserter(out), "# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help,
                 type, value);
}

void Counter(std::string& out, const char* name, const char* help, std::uint64_t value) {
  Metric(out, name, "counter", help, static_cast<double>(value));
}

void Gauge(std::string& out, const char* name, const char* help, double value) {
  Metric(out, name, "gauge", help, value);
}

}  // namespace

std::string PrometheusText(const EngineStats& e, const websocket::ServerStats& s) {
  std::string out;
  out.reserve(4096);
  // --- build
  fmt::format_to(std::back_inserter(out),
                 "# HELP courier_build_info The Courier version and git commit of this server.\n"
                 "# TYPE courier_build_info gauge\n"
                 "courier_build_info{{version=\"{}\",commit=\"{}\"}} 1\n",
                 kVersion, kGitCommit);
  // --- engine
  Gauge(out, "courier_sessions", "Devices connected to this node's engine.",
        static_cast<double>(e.sessions));
  Counter(out, "courier_sends_total", "Messages stored (duplicates not counted).", e.sends);
  Counter(out, "courier_duplicate_sends_total", "Sends answered as duplicates of an earlier cid.",
          e.duplicate_sends);
  Counter(out, "courier_send_errors_total", "Sends answered with an error.", e.send_errors);
  Counter(out, "courier_events_delivered_total", "Inbox events handed to connections.",
          e.events_delivered);
  Counter(out, "courier_acks_total", "Acks received.", e.acks);
  Counter(out, "courier_reads_total", "Read markers received.", e.reads);
  Counter(out, "courier_commits_total", "Store transactions (group commits).", e.commits);
  Counter(out, "courier_committed_ops_total", "Operations in those transactions.",
          e.committed_ops);
  Counter(out, "courier_write_reruns_total",
          "Store writes made again for ops answered as conflicts (kAborted).", e.write_reruns);
  Gauge(out, "courier_commit_queue_depth", "Operations waiting for the next commit.",
        static_cast<double>(e.commit_queue_depth));
  Metric(out, "courier_commit_latency_seconds_total", "counter",
         "Sum of commit latencies, seconds; divide by courier_commits_total for the mean.",
         static_cast<double>(e.commit_latency_us_total) / 1e6);
  Metric(out, "courier_commit_busy_seconds_total", "counter",
         "Wall time with at least one batch being written or synced, seconds (staged batches "
         "overlap; this counts the overlap once).",
         static_cast<double>(e.commit_busy_us_total) / 1e6);
  // Failures no client sees (courier/engine.h); each is also logged.
  Counter(out, "courier_presence_heartbeat_errors_total",
          "Presence heartbeats that failed (this node's devices may expire).",
          e.heartbeat_errors);
  Counter(out, "courier_prune_errors_total", "Store prunes that failed.", e.prune_errors);
  Counter(out, "courier_signal_errors_total",
          "Signals to other nodes (wake, kick, presence) that could not be published.",
          e.signal_errors);
  Counter(out, "courier_presence_errors_total",
          "Presence registrations, lookups and contact lists that failed.", e.presence_errors);
  Counter(out, "courier_last_seen_errors_total", "Last seen writes or reads that failed.",
          e.last_seen_errors);
  // --- groups and typing
  Counter(out, "courier_group_sends_total", "Group messages stored (duplicates not counted).",
          e.group_sends);
  Counter(out, "courier_group_changes_total", "Group changes stored that changed something.",
          e.group_changes);
  Counter(out, "courier_typing_relayed_total",
          "Typing frames handed to connections or to other nodes.", e.typing_relayed);
  Counter(out, "courier_typing_dropped_total",
          "Typing ops dropped (over --typing-rate, or to someone not allowed).", e.typing_dropped);
  // --- connections
  Gauge(out, "courier_connections_open", "TCP connections open (HTTP and WebSocket).",
        static_cast<double>(s.connections_open));
  Counter(out, "courier_connections_total", "TCP connections accepted.", s.connections_total);
  Counter(out, "courier_connections_refused_total", "Connections refused over the limit.",
          s.connections_refused);
  Gauge(out, "courier_websockets_open", "WebSocket connections open.",
        static_cast<double>(s.websockets_open));
  Counter(out, "courier_websockets_total", "WebSocket upgrades.", s.websockets_total);
  Counter(out, "courier_frames_in_total", "WebSocket frames received.", s.frames_in);
  Counter(out, "courier_frames_out_total", "WebSocket frames sent.", s.frames_out);
  Counter(out, "courier_bytes_in_total", "WebSocket payload bytes received.", s.bytes_in);
  Counter(out, "courier_bytes_out_total", "WebSocket payload bytes sent.", s.bytes_out);
  Counter(out, "courier_bad_frames_total", "Frames answered with an error frame.", s.bad_frames);
  Counter(out, "courier_hello_failures_total", "Connections closed with 4401.", s.hello_failures);
  Counter(out, "courier_idle_closes_total", "Connections closed with 4408.", s.idle_closes);
  Counter(out, "courier_slow_closes_total", "Connections closed with 1008 (send queue full).",
          s.slow_closes);
  Counter(out, "courier_http_requests_total", "HTTP requests answered.", s.http_requests);
  // --- send latency histogram
  const auto& h = s.send_latency;
  out += "# HELP courier_send_latency_seconds Time from a send frame to its sent or error answer.\n";
  out += "# TYPE courier_send_latency_seconds histogram\n";
  for (std::size_t i = 0; i < h.upper_bounds_s.size() && i < h.counts.size(); ++i) {
    fmt::format_to(std::back_inserter(out), "courier_send_latency_seconds_bucket{{le=\"{}\"}} {}\n",
                   h.upper_bounds_s[i], h.counts[i]);
  }
  fmt::format_to(std::back_inserter(out),
                 "courier_send_latency_seconds_bucket{{le=\"+Inf\"}} {}\n"
                 "courier_send_latency_seconds_sum {}\ncourier_send_latency_seconds_count {}\n",
                 h.count, h.sum_s, h.count);
  return out;
}

std::string PushMetricsText(const PushStats& p) {
  std::string out;
  Counter(out, "courier_push_messages_total", "Messages to users offered to the push notifier.",
          p.messages);
  Counter(out, "courier_push_notices_total", "Push notices opened (one per user and hold window).",
          p.notices);
  Counter(out, "courier_push_coalesced_total", "Messages folded into a pending push notice.",
          p.coalesced);
  Counter(out, "courier_push_dropped_total",
          "Messages that got no push: the notice table was full, or the server stopped.",
          p.dropped);
  Gauge(out, "courier_push_pending", "Push notices waiting for their hold time.",
        static_cast<double>(p.pending));
  Counter(out, "courier_push_skipped_online_total",
          "Notices not pushed: the user had a device connected.", p.skipped_online);
  Counter(out, "courier_push_no_subscription_total",
          "Notices for users with no push subscription and no webhook.", p.no_subscription);
  Counter(out, "courier_push_sent_total", "Pushes accepted by a push service or the webhook.",
          p.sent);
  Counter(out, "courier_push_gone_total",
          "Pushes answered 404/410: the subscription was deleted.", p.gone);
  Counter(out, "courier_push_failed_total", "Pushes given up after retries.", p.failed);
  Counter(out, "courier_push_lookup_errors_total",
          "Notices dropped because presence or the account store failed.", p.lookup_errors);
  return out;
}

}  // namespace courier::server
