// fuzz_engine: the engine driven by a fuzzed sequence of operations.
//
// Three users (all friends), two devices each, the memory store behind the
// body cipher and a FaultInjectingStore, one ManualExecutor for commits and
// deliveries, a ManualClock. The first bytes pick the options (window, page,
// batch size, max_undelivered); then each byte is one operation: connect
// (with or without `since`), disconnect, send (new or a repeated cid), ack,
// read, run one queued task (the byte picks which: any interleaving), run
// everything, store faults, time passing, and a crash (the engine dropped
// with its queues; the store keeps what was committed).
// Checked while it runs, as frames arrive:
//   * per connection: one welcome, then events in seq order with no gap
//     (except events the device acked before), synced once at the head;
//   * one content per (user, seq) across every connection;
//   * a cid answers one id, always the same;
//   * errors only unavailable or queue_full.
// Checked at the end, after faults stop and every device reconnects and
// acks what it has:
//   * every device holds its whole inbox 1..head;
//   * every acknowledged message is in its recipient's inbox exactly once,
//     and every stored message was sent by its sender to that recipient;
//   * every message is delivered with exactly one delivered receipt, and at
//     most one read receipt, after the delivered one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "courier/engine.h"
#include "courier/executor.h"
#include "courier/memory.h"
#include "fuzz_check.h"
#include "support/engine_rig.h"

namespace courier {
namespace {

class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  std::uint8_t Next() { return pos_ < size_ ? data_[pos_++] : 0; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

using Dev = testing::ModelDevice;

struct SendRec {
  UserId from;
  UserId to;
  std::string body;
  std::optional<MessageId> id;
};

class Run {
 public:
  explicit Run(Bytes& in) : in_(in) {
    store_ = memory::OpenMessageStore();
    const absl::Status friends = rig_.AddFriends(users_);
    FUZZ_CHECK(friends.ok(), "users: %s", friends.ToString().c_str());
    for (const UserId& u : users_) {
      for (const char* d : {"d0", "d1"}) {
        devs_.push_back(Dev{});
        devs_.back().user = u;
        devs_.back().device = d;
      }
    }
    EngineOptions& options = rig_.options();
    options.limits.window = 1 + in_.Next() % 5;
    options.limits.fetch_page = 1 + in_.Next() % 4;
    options.max_batch_ops = 1 + in_.Next() % 6;
    const std::uint8_t q = in_.Next();
    options.limits.max_undelivered = q < 128 ? 100'000 : 1 + q % 12;
    StartEngine();
  }

  ~Run() {
    for (auto& d : devs_) {
      if (d.session != nullptr) d.session->Disconnect();
    }
    rig_.Stop();
  }

  void Go() {
    int steps = 0;
    while (!in_.empty() && steps++ < 400) {
      Step(in_.Next());
      DrainAll();
    }
    Quiesce();
    Check();
  }

 private:
  Dev* PickDev(bool connected) {
    std::vector<Dev*> v;
    for (auto& d : devs_) {
      if ((d.session != nullptr) == connected) v.push_back(&d);
    }
    return v.empty() ? nullptr : v[in_.Next() % v.size()];
  }

  // One operation; `op` picks it, in twelfths.
  void Step(std::uint8_t op) {
    switch (op % 12) {
      case 0: case 1: Connect(PickDev(false)); break;
      case 2: Disconnect(PickDev(true)); break;
      case 3: case 4: Send(PickDev(true)); break;
      case 5: Ack(PickDev(true)); break;
      case 6: Read(PickDev(true)); break;
      case 7: case 8: rig_.executor().RunOne(in_.Next()); break;  // the byte picks the task
      case 9: rig_.executor().RunAll(); break;
      case 10: Faults(); break;
      default: TimePasses(); break;
    }
  }

  // The store goes down or up, fails some of its next calls, or the engine
  // crashes.
  void Faults() {
    switch (in_.Next() % 4) {
      case 0: rig_.faults().SetDown(true); break;
      case 1: rig_.faults().SetDown(false); break;
      case 2: {
        const std::uint64_t skip = in_.Next() % 4;  // read before n: a fixed order
        rig_.faults().FailAfter(skip, 1 + in_.Next() % 2);
        break;
      }
      default: Crash(); break;
    }
  }

  void TimePasses() {
    rig_.clock().Advance(in_.Next() * 10);
    rig_.engine().Tick();
  }

  void StartEngine() {
    const absl::Status started = rig_.Start(*store_);
    FUZZ_CHECK(started.ok(), "engine: %s", started.ToString().c_str());
  }

  void Crash() {
    rig_.Stop();
    // The connections die with the process: the transport adapter reports
    // each one gone (a closed session ignores the call but is released).
    for (auto& d : devs_) {
      if (d.session != nullptr) Disconnect(&d);
    }
    StartEngine();
  }

  void Connect(Dev* d) {
    if (d == nullptr) return;
    const absl::Status connected = d->Connect(rig_.engine(), in_.Next() % 8);
    FUZZ_CHECK(connected.ok(), "connect: %s", connected.ToString().c_str());
  }

  // The device hangs up: it reads what arrived before, and forgets the
  // connection.
  void Disconnect(Dev* d) {
    if (d == nullptr) return;
    d->session->Disconnect();
    Drain(*d);
    d->Forget();
  }

  void Send(Dev* d) {
    if (d == nullptr) return;
    std::vector<UserId> others;
    for (const UserId& u : users_) {
      if (u != d->user) others.push_back(u);
    }
    auto& mine = cids_[d->user];
    if (!mine.empty() && in_.Next() % 4 == 0) {
      auto it = mine.begin();
      std::advance(it, static_cast<long>(in_.Next() % mine.size()));
      d->session->Send(it->first, it->second.to, it->second.body);
      return;
    }
    const UserId to = others[in_.Next() % others.size()];
    const std::string cid = "c" + std::to_string(next_cid_++);
    const std::string body = cid + " " + d->user + ">" + to;
    mine[cid] = SendRec{d->user, to, body, std::nullopt};
    by_body_[body] = mine[cid];
    d->session->Send(cid, to, body);
  }

  void Ack(Dev* d) {
    if (d == nullptr || d->received == 0) return;
    Seq upto = d->received;
    const std::uint8_t r = in_.Next();
    if (r % 3 == 0) upto = 1 + r % d->received;
    d->AckUpTo(upto);
  }

  void Read(Dev* d) {
    if (d == nullptr) return;
    std::vector<MessageId> ids = d->MessagesPicked([this] { return in_.Next() % 2 == 0; });
    if (ids.empty()) return;
    if (in_.Next() % 4 == 0) ids.push_back("no-such-message");
    d->session->Read(std::move(ids));
  }

  void DrainAll() {
    for (auto& d : devs_) {
      if (d.transport == nullptr) continue;
      Drain(d);
      d.ForgetIfClosed();
    }
  }

  void Drain(Dev& d) {
    if (d.transport == nullptr) return;
    const char* who = d.user.c_str();
    for (ServerFrame& f : d.transport->Take()) {
      if (auto* w = std::get_if<WelcomeFrame>(&f)) {
        FUZZ_CHECK(!d.welcomed, "%s: second welcome", who);
        FUZZ_CHECK(w->cursor <= w->head, "%s: cursor past head", who);
        d.welcomed = true;
        const Seq start = d.since.has_value() ? std::min(*d.since, w->head) : w->cursor;
        d.next = start + 1;
        d.head_at_welcome = w->head;
      } else if (auto* e = std::get_if<EventFrame>(&f)) {
        FUZZ_CHECK(d.welcomed, "%s: event before welcome", who);
        const Seq seq = e->event.seq;
        FUZZ_CHECK(seq >= d.next, "%s: seq %llu after %llu", who, (unsigned long long)seq,
                   (unsigned long long)(d.next - 1));
        FUZZ_CHECK(seq == d.next || seq - 1 <= d.acked, "%s: gap before seq %llu", who,
                   (unsigned long long)seq);
        d.next = seq + 1;
        d.received = seq;
        auto [it, fresh] = inbox_[d.user].emplace(seq, e->event);
        FUZZ_CHECK(fresh || it->second == e->event, "%s: seq %llu has two contents", who,
                   (unsigned long long)seq);
        d.local[seq] = e->event;
      } else if (auto* s = std::get_if<SyncedFrame>(&f)) {
        FUZZ_CHECK(d.welcomed && d.synced == 0, "%s: synced twice or early", who);
        ++d.synced;
        d.needs_since = false;
        FUZZ_CHECK(s->seq == d.head_at_welcome, "%s: synced not at the welcome head", who);
        FUZZ_CHECK(std::max(d.next - 1, d.acked) >= d.head_at_welcome, "%s: synced early", who);
      } else if (auto* sent = std::get_if<SentFrame>(&f)) {
        SendRec& rec = cids_[d.user].at(sent->cid);
        if (rec.id.has_value()) {
          FUZZ_CHECK(*rec.id == sent->id, "cid %s answered two ids", sent->cid.c_str());
        } else {
          rec.id = sent->id;
          by_id_[sent->id] = rec;
        }
        acknowledged_.insert(sent->id);
      } else if (auto* err = std::get_if<ErrorFrame>(&f)) {
        FUZZ_CHECK(err->code == ErrorCode::kUnavailable || err->code == ErrorCode::kQueueFull,
                   "unexpected error %s: %s", std::string(ErrorCodeName(err->code)).c_str(),
                   err->message.c_str());
      }
    }
  }

  void Quiesce() {
    rig_.StopFaults();
    rig_.executor().RunAll();
    DrainAll();
    for (auto& d : devs_) {
      if (d.session != nullptr) Disconnect(&d);
    }
    rig_.executor().RunAll();
    for (auto& d : devs_) Connect(&d);
    for (int round = 0; round < 100000; ++round) {
      rig_.executor().RunAll();
      DrainAll();
      bool moved = false;
      for (auto& d : devs_) {
        FUZZ_CHECK(d.session != nullptr, "%s/%s closed while quiet", d.user.c_str(),
                   d.device.c_str());
        if (d.AckWhatItHas()) moved = true;
      }
      if (!moved && rig_.executor().pending() == 0) break;
    }
  }

  void Check() {
    for (auto& d : devs_) {
      auto head = store_->Head(d.user);
      FUZZ_CHECK(head.ok(), "head");
      FUZZ_CHECK(d.synced == 1, "%s/%s never synced", d.user.c_str(), d.device.c_str());
      FUZZ_CHECK(d.local.size() == *head && d.Contiguous() == *head,
                 "%s/%s has %zu events, inbox head %llu", d.user.c_str(), d.device.c_str(),
                 d.local.size(), (unsigned long long)*head);
    }
    std::map<MessageId, int> count;
    std::map<MessageId, SendRec> stored;
    for (const auto& [user, events] : inbox_) {
      for (const auto& [seq, e] : events) {
        if (e.kind != EventKind::kMessage) continue;
        ++count[e.id];
        auto it = by_body_.find(e.body);
        FUZZ_CHECK(it != by_body_.end(), "a stored message nobody sent: %s", e.body.c_str());
        FUZZ_CHECK(it->second.to == user && it->second.from == e.peer,
                   "message %s in the wrong inbox or from the wrong sender", e.id.c_str());
        stored[e.id] = it->second;
      }
    }
    for (const MessageId& id : acknowledged_) {
      FUZZ_CHECK(count[id] == 1, "acknowledged message %s stored %d times", id.c_str(),
                 count[id]);
    }
    std::map<std::pair<MessageId, MessageStatus>, std::vector<Seq>> receipts;
    for (const auto& [user, events] : inbox_) {
      for (const auto& [seq, e] : events) {
        if (e.kind != EventKind::kReceipt) continue;
        receipts[{e.id, e.status}].push_back(seq);
        auto it = stored.find(e.id);
        FUZZ_CHECK(it != stored.end(), "receipt for unknown message %s", e.id.c_str());
        FUZZ_CHECK(it->second.from == user && it->second.to == e.peer, "receipt misrouted");
      }
    }
    for (const auto& [id, n] : count) {
      FUZZ_CHECK(n == 1, "message %s stored %d times", id.c_str(), n);
      const auto& delivered = receipts[{id, MessageStatus::kDelivered}];
      const auto& read = receipts[{id, MessageStatus::kRead}];
      FUZZ_CHECK(delivered.size() == 1, "message %s has %zu delivered receipts", id.c_str(),
                 delivered.size());
      FUZZ_CHECK(read.size() <= 1, "message %s has %zu read receipts", id.c_str(), read.size());
      if (read.size() == 1) {
        FUZZ_CHECK(delivered[0] < read[0], "read before delivered for %s", id.c_str());
      }
    }
    if (std::getenv("COURIER_FUZZ_VERBOSE") != nullptr) {
      std::size_t events = 0;
      for (const auto& [user, events_of] : inbox_) events += events_of.size();
      std::fprintf(stderr, "  %zu sends, %zu acknowledged, %zu stored, %zu inbox events\n",
                   by_body_.size(), acknowledged_.size(), count.size(), events);
    }
  }

  Bytes& in_;
  const std::vector<UserId> users_ = {"u0", "u1", "u2"};
  std::unique_ptr<MessageStore> store_;  // outlives the engine's incarnations
  testing::EngineRig rig_;
  std::vector<Dev> devs_;
  std::map<UserId, std::map<std::string, SendRec>> cids_;
  std::map<MessageId, SendRec> by_id_;
  std::map<std::string, SendRec> by_body_;
  std::set<MessageId> acknowledged_;
  std::map<UserId, std::map<Seq, Event>> inbox_;
  std::uint64_t next_cid_ = 0;
};

}  // namespace
}  // namespace courier

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  courier::Bytes in(data, size);
  courier::Run run(in);
  run.Go();
  return 0;
}
