// courier_store_throughput: a send-throughput figure for a networked store.
//
//   courier_store_throughput URL [TOTAL] [BATCH] [RECIPIENTS]
//
// Appends TOTAL messages (default 10,000) in Write batches of BATCH AppendOps
// (default 100, as the engine's group commit would) from 10 senders to
// RECIPIENTS recipients (default 100), and prints one line:
//   store=<scheme> appends=N batch=B seconds=S appends_per_s=R batch_p50_ms=P
// When the store stages writes (PostgreSQL's pipelined commits), the same
// again as the engine's commit queue writes it, batch k + 1 staged before
// batch k's Sync:
//   store=<scheme> appends=N batch=B pipelined seconds=S appends_per_s=R
// then every recipient's device acks its whole inbox (10 acks per batch) and
// prints the rate of delivered receipts written:
//   store=<scheme> acked_messages=N seconds=S receipts_per_s=R
// and last creates a group of 256 members (issue 17) and sends 50 messages
// to it, one Write each (every send appends 256 events):
//   store=<scheme> group_members=256 group_create_ms=C group_sends=50
//       send_p50_ms=P send_max_ms=M
// URL is a postgresql:// or mongodb:// URL as for courier-server --store.
// Not a test: it writes into the store it is given (PostgreSQL: tables with
// the prefix courier_tp<pid>_, MongoDB: the database courier_tp<pid>).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "absl/strings/str_cat.h"
#include "courier/group.h"
#include "courier/message_store.h"
#include "courier/postgres.h"
#ifdef COURIER_THROUGHPUT_WITH_MONGO
#include "courier/mongo.h"
#endif

namespace {

absl::StatusOr<std::unique_ptr<courier::MessageStore>> Open(const std::string& url) {
  const std::string tag = "tp" + std::to_string(::getpid());
  if (url.rfind("postgres", 0) == 0) {
    auto options = courier::postgres::PostgresOptionsFromUrl(url);
    if (!options.ok()) return options.status();
    options->table_prefix = "courier_" + tag + "_";
    return courier::postgres::OpenMessageStore(*options);
  }
#ifdef COURIER_THROUGHPUT_WITH_MONGO
  if (url.rfind("mongodb", 0) == 0) {
    auto options = courier::mongo::MongoOptionsFromUrl(url);
    if (!options.ok()) return options.status();
    options->database = "courier_" + tag;
    return courier::mongo::OpenMessageStore(*options);
  }
#endif
  return absl::InvalidArgumentError("unsupported URL scheme");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URL [TOTAL] [BATCH] [RECIPIENTS]\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  const int total = argc > 2 ? std::atoi(argv[2]) : 10'000;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 100;
  const int to = argc > 4 ? std::atoi(argv[4]) : 100;
  if (total < 1 || batch < 1 || to < 1) return 2;
  // The `first`-th message on: the next batch of appends.
  auto appends = [&](int& done, int first) {
    std::vector<courier::WriteOp> ops;
    for (int i = 0; i < batch && done < total; ++i, ++done) {
      courier::AppendOp op;
      op.sender = absl::StrCat("s", done % 10);
      op.cid = std::to_string(first + done);
      op.recipient = absl::StrCat("r", done % to);
      op.id = absl::StrCat("m", first + done);
      op.body = std::string(100, 'x');
      op.ts = 1'000;
      ops.push_back(std::move(op));
    }
    return ops;
  };
  auto store = Open(url);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::vector<double> batch_ms;
  const auto start = std::chrono::steady_clock::now();
  for (int done = 0; done < total;) {
    std::vector<courier::WriteOp> ops = appends(done, 0);
    const auto t0 = std::chrono::steady_clock::now();
    auto results = (*store)->Write(ops);
    batch_ms.push_back(std::chrono::duration<double, std::milli>(
                           std::chrono::steady_clock::now() - t0).count());
    for (const auto& r : results) {
      if (!r.ok()) {
        std::fprintf(stderr, "write: %s\n", r.status().ToString().c_str());
        return 1;
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(batch_ms.begin(), batch_ms.end());
  std::printf("store=%s appends=%d batch=%d seconds=%.2f appends_per_s=%.0f batch_p50_ms=%.1f\n",
              url.substr(0, url.find(':')).c_str(), total, batch, seconds, total / seconds,
              batch_ms[batch_ms.size() / 2]);

  if ((*store)->StagesWrites()) {
    const auto staged_start = std::chrono::steady_clock::now();
    std::unique_ptr<courier::MessageStore::PendingSync> pending;
    auto check = [](const std::vector<absl::StatusOr<courier::WriteResult>>& results) {
      for (const auto& r : results) {
        if (!r.ok()) {
          std::fprintf(stderr, "write: %s\n", r.status().ToString().c_str());
          return false;
        }
      }
      return true;
    };
    for (int done = 0; done < total;) {
      const std::vector<courier::WriteOp> ops = appends(done, total);
      courier::MessageStore::StagedWrite staged = (*store)->WriteStaged(ops);
      if (pending != nullptr && !pending->Sync().ok()) return 1;
      if (!check(staged.results)) return 1;
      pending = std::move(staged.sync);
    }
    if (pending != nullptr && !pending->Sync().ok()) return 1;
    const double staged_seconds = std::chrono::duration<double>(
                                      std::chrono::steady_clock::now() - staged_start)
                                      .count();
    std::printf("store=%s appends=%d batch=%d pipelined seconds=%.2f appends_per_s=%.0f\n",
                url.substr(0, url.find(':')).c_str(), total, batch, staged_seconds,
                total / staged_seconds);
  }

  // Then every recipient's device acks its whole inbox, 10 acks per batch:
  // one delivered receipt per message.
  const int recipients = std::min(total, to);
  std::size_t receipts = 0;
  const auto ack_start = std::chrono::steady_clock::now();
  for (int r = 0; r < recipients;) {
    std::vector<courier::WriteOp> ops;
    for (int i = 0; i < 10 && r < recipients; ++i, ++r) {
      const std::string user = "r" + std::to_string(r);
      auto head = (*store)->Head(user);
      if (!head.ok()) {
        std::fprintf(stderr, "head: %s\n", head.status().ToString().c_str());
        return 1;
      }
      ops.push_back(courier::AckOp{user, "phone", *head, 2'000});
    }
    for (const auto& result : (*store)->Write(ops)) {
      if (!result.ok()) {
        std::fprintf(stderr, "ack: %s\n", result.status().ToString().c_str());
        return 1;
      }
      receipts += std::get<courier::AckResult>(*result).appended.size();
    }
  }
  const double ack_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - ack_start).count();
  std::printf("store=%s acked_messages=%zu seconds=%.2f receipts_per_s=%.0f\n",
              url.substr(0, url.find(':')).c_str(), receipts, ack_seconds,
              receipts / ack_seconds);

  // A group of 256 and 50 sends to it.
  constexpr int kMembers = 256;
  constexpr int kGroupSends = 50;
  courier::GroupChangeOp create;
  create.action = courier::GroupAction::kCreate;
  create.actor = "s0";
  create.group = "big";
  create.name = "big";
  for (int i = 1; i < kMembers; ++i) create.members.push_back(absl::StrCat("g", i));
  create.id = "create-big";
  create.ts = 3'000;
  auto timed = [&](const courier::WriteOp& op) -> double {
    const auto t0 = std::chrono::steady_clock::now();
    auto results = (*store)->Write(absl::MakeConstSpan(&op, 1));
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!results[0].ok()) {
      std::fprintf(stderr, "group: %s\n", results[0].status().ToString().c_str());
      return -1;
    }
    return ms;
  };
  const double create_ms = timed(create);
  if (create_ms < 0) return 1;
  std::vector<double> send_ms;
  for (int i = 0; i < kGroupSends; ++i) {
    courier::GroupSendOp send;
    send.sender = absl::StrCat("g", 1 + i % (kMembers - 1));
    send.cid = absl::StrCat("group-", i);
    send.group = "big";
    send.id = absl::StrCat("gm", i);
    send.body = std::string(100, 'x');
    send.ts = 4'000;
    const double ms = timed(send);
    if (ms < 0) return 1;
    send_ms.push_back(ms);
  }
  std::sort(send_ms.begin(), send_ms.end());
  std::printf("store=%s group_members=%d group_create_ms=%.1f group_sends=%d send_p50_ms=%.1f "
              "send_max_ms=%.1f\n",
              url.substr(0, url.find(':')).c_str(), kMembers, create_ms, kGroupSends,
              send_ms[send_ms.size() / 2], send_ms.back());
  return 0;
}
