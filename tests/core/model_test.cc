// The randomized model test: thousands of seeded random schedules of sends,
// connects, disconnects with and without acks, reads, duplicate sends, store
// faults and crashes (the engine dropped with its queues, the store reopened),
// each checked against the guarantees of courier/engine.h:
//  * within a connection a device gets events in seq order with no gap,
//    starting right after its cursor (or `since`);
//  * no seq of an inbox ever carries two different events;
//  * every message that got `sent` is in its recipient's inbox exactly once
//    and reaches every device of the recipient;
//  * a repeated cid answers the first id;
//  * each status step yields exactly one receipt, delivered before read.
// With groups (issue 17) mixed in: random creates, adds, removes, leaves,
// renames and group sends (many refused: not an admin, not a member), and per
// member the same guarantees, plus:
//  * the events of a group are totally ordered by the inboxes that hold them
//    (each change and message is in one store transaction), and replayed in
//    that order, every change is in the inbox of exactly the users it tells
//    and every group message in the inbox of exactly the members at the time
//    (the sender's included; a member gets exactly the group messages sent
//    while it was a member);
//  * the sender's own copy is read and makes no receipts; every other
//    member's copy makes exactly one receipt per status step;
//  * the store's records (Group, GroupsOf) equal the replayed membership.
// A failing schedule prints its seed; replay it with COURIER_MODEL_SEED=<n>.
// COURIER_MODEL_SEEDS=<n> sets how many schedules run (default 10000 for the
// memory store, a tenth of that for SQLite).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "courier/engine.h"
#include "courier/executor.h"
#include "courier/group.h"
#include "courier/memory.h"
#include "support/engine_rig.h"
#include "support/status_matchers.h"
#ifdef COURIER_HAVE_SQLITE
#include "courier/sqlite.h"
#endif
#ifdef COURIER_HAVE_ROCKSDB
#include "courier/rocksdb.h"
#endif

namespace courier::testing {
namespace {

std::string Describe(const Event& e) {
  return "seq=" + std::to_string(e.seq) + " kind=" + std::to_string(int(e.kind)) + " id=" + e.id +
         " peer=" + e.peer + " body=" + e.body + " status=" + std::to_string(int(e.status)) +
         " ts=" + std::to_string(e.ts) + " group=" + e.group;
}

// Opens the store under test; Reopen() is the crash: everything not
// committed is gone, everything committed must still be there.
class StoreUnderTest {
 public:
  virtual ~StoreUnderTest() = default;
  virtual MessageStore& store() = 0;
  virtual void Reopen() = 0;
};

class MemoryUnderTest final : public StoreUnderTest {
 public:
  MemoryUnderTest() : store_(memory::OpenMessageStore()) {}
  MessageStore& store() override { return *store_; }
  void Reopen() override {}  // the memory store stands for a durable one

 private:
  std::unique_ptr<MessageStore> store_;
};

// A store on files in its own temp dir; Reopen() closes it and opens it
// again on the same files with `open(dir)`.
class DirStoreUnderTest final : public StoreUnderTest {
 public:
  using Opener =
      std::function<absl::StatusOr<std::unique_ptr<MessageStore>>(const std::filesystem::path&)>;
  DirStoreUnderTest(std::string name, std::uint64_t seed, Opener open) : open_(std::move(open)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("courier-model-" + name + "-" + std::to_string(::getpid()) + "-" +
            std::to_string(seed));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  ~DirStoreUnderTest() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  MessageStore& store() override { return *store_; }
  void Reopen() override {
    store_.reset();
    auto s = open_(dir_);
    COURIER_REQUIRE_OK(s);
    store_ = *std::move(s);
  }

 private:
  Opener open_;
  std::filesystem::path dir_;
  std::unique_ptr<MessageStore> store_;
};

struct SendRecord {
  UserId from;
  UserId to;  // empty for a group send
  std::string body;
  std::optional<MessageId> id;  // once acknowledged
  GroupId group;                // a group send: the group
};

class Model {
 public:
  Model(std::uint64_t seed, StoreUnderTest& sut) : rng_(seed), sut_(sut) {
    const int users = 2 + static_cast<int>(rng_() % 3);
    for (int u = 0; u < users; ++u) users_.push_back("u" + std::to_string(u));
    COURIER_REQUIRE_OK(rig_.AddFriends(users_));
    for (const auto& u : users_) {
      const int devices = 1 + static_cast<int>(rng_() % 2);
      for (int d = 0; d < devices; ++d) {
        ModelDevice md;
        md.user = u;
        md.device = "d" + std::to_string(d);
        devices_.push_back(std::move(md));
      }
    }
    EngineOptions& options = rig_.options();
    options.limits.window = 1 + rng_() % 6;
    options.limits.fetch_page = 1 + rng_() % 4;
    options.max_batch_ops = 1 + rng_() % 8;
    StartEngine();
  }

  ~Model() { rig_.Stop(); }

  // One action, picked at random by its weight (the weights add up to 100),
  // then every frame that arrived is checked.
  void Step() {
    const std::pair<int, std::function<void()>> actions[] = {
        {12, [this] { Connect(Pick(Disconnected())); }},
        {6, [this] { Disconnect(Pick(Connected())); }},
        {22, [this] { Send(Pick(Connected())); }},
        {12, [this] { Ack(Pick(Connected())); }},
        {6, [this] { Read(Pick(Connected())); }},
        {7, [this] { ChangeGroup(Pick(Connected())); }},
        {23, [this] { RunSome(); }},
        {4, [this] { Faults(); }},
        {2, [this] { Crash(); }},
        {6, [this] { TimePasses(); }},
    };
    int r = static_cast<int>(rng_() % 100);
    for (const auto& [weight, action] : actions) {
      if (r < weight) {
        action();
        break;
      }
      r -= weight;
    }
    DrainAll();
  }

  // Stops faults, connects every device and lets everything settle.
  void Quiesce() {
    rig_.StopFaults();
    RunAll();
    for (auto& d : devices_) {
      if (d.session != nullptr) Disconnect(&d);
    }
    RunAll();
    for (auto& d : devices_) Connect(&d);
    for (int round = 0; round < 10000; ++round) {
      RunAll();
      bool moved = false;
      for (auto& d : devices_) {
        if (d.session == nullptr) continue;
        if (d.AckWhatItHas()) moved = true;
      }
      if (!moved && rig_.executor().pending() == 0) break;
    }
    RunAll();
  }

  void Check() {
    // Every device has every event of its user's inbox, no gaps.
    for (auto& d : devices_) {
      std::string keys;
      for (const auto& [k, v] : d.local) keys += std::to_string(k) + ",";
      INFO("device " << d.user << "/" << d.device << " local " << keys << " connected "
                     << (d.session != nullptr) << " received " << d.received << " acked "
                     << d.acked << " needs_since " << d.needs_since << " welcomed "
                     << d.welcomed << " state "
                     << (d.session ? int(d.session->state()) : -1));
      auto head = sut_.store().Head(d.user);
      COURIER_REQUIRE_OK(head);
      CHECK(d.synced == 1);
      REQUIRE(d.local.size() == *head);
      Seq expect = 1;
      for (const auto& [seq, e] : d.local) {
        REQUIRE(seq == expect);
        ++expect;
        CHECK(inbox_[d.user].at(seq) == e);
      }
    }
    // Every acknowledged message is in its recipient's inbox exactly once;
    // every message there was sent by someone.
    // Messages stored without their sender hearing `sent` (it disconnected
    // or the engine crashed first) are legitimate: find their send by body.
    // A 1:1 message has one holder (its recipient), a group message one per
    // member at the time (the sender's own copy included).
    std::map<MessageId, std::map<UserId, int>> holders;
    std::map<MessageId, SendRecord> stored;
    for (const auto& [user, events] : inbox_) {
      for (const auto& [seq, e] : events) {
        if (e.kind != EventKind::kMessage) continue;
        ++holders[e.id][user];
        auto it = by_body_.find(e.body);
        REQUIRE(it != by_body_.end());  // every stored message was sent by someone
        CHECK(it->second.group == e.group);
        if (e.group.empty()) CHECK(it->second.to == user);
        CHECK(it->second.from == e.peer);
        stored[e.id] = it->second;
        if (by_id_.contains(e.id)) CHECK(by_id_.at(e.id).body == e.body);
      }
    }
    // Receipts by (message, step, member): a group message has one set per
    // member other than the sender.
    std::map<std::tuple<MessageId, MessageStatus, UserId>, std::vector<Seq>> receipts;
    for (const auto& [user, events] : inbox_) {
      for (const auto& [seq, e] : events) {
        if (e.kind != EventKind::kReceipt) continue;
        CHECK(e.group.empty());
        receipts[{e.id, e.status, e.peer}].push_back(seq);
        auto it = stored.find(e.id);
        REQUIRE(it != stored.end());  // a receipt is about a stored message
        CHECK(it->second.from == user);
        if (it->second.group.empty()) CHECK(it->second.to == e.peer);
        CHECK(e.peer != user);
        CHECK(holders[e.id].contains(e.peer));
      }
    }
    for (const auto& [id, rec] : by_id_) {
      if (!acknowledged_.contains(id)) continue;
      INFO("message " << id);
      // Acknowledged: in the recipient's inbox, or for a group in the
      // sender's own (every member's is checked by CheckGroups).
      auto it = holders.find(id);
      REQUIRE(it != holders.end());
      if (rec.group.empty()) CHECK(it->second.size() == 1);
      CHECK(it->second.contains(rec.group.empty() ? rec.to : rec.from));
    }
    for (const auto& [id, by_user] : holders) {
      const SendRecord& rec = stored.at(id);
      for (const auto& [holder, n] : by_user) {
        INFO("message " << id << " in the inbox of " << holder);
        CHECK(n == 1);
        auto status = sut_.store().Status(holder, id);
        COURIER_REQUIRE_OK(status);
        const auto& delivered = receipts[{id, MessageStatus::kDelivered, holder}];
        const auto& read = receipts[{id, MessageStatus::kRead, holder}];
        if (holder == rec.from) {
          // A group sender's own copy: read at once, never a receipt.
          CHECK_FALSE(rec.group.empty());
          CHECK(*status == MessageStatus::kRead);
          CHECK(delivered.empty());
          CHECK(read.empty());
          continue;
        }
        // Quiesce acked everything: all delivered, exactly one receipt.
        CHECK(*status != MessageStatus::kSent);
        CHECK(delivered.size() == 1);
        if (*status == MessageStatus::kRead) {
          REQUIRE(read.size() == 1);
          REQUIRE(delivered.size() == 1);
          CHECK(delivered[0] < read[0]);
        } else {
          CHECK(read.empty());
        }
      }
    }
    messages_ += holders.size();
    for (const auto& [id, rec] : stored) group_messages_ += rec.group.empty() ? 0 : 1;
    CheckGroups();
  }

  std::size_t messages() const { return messages_; }
  std::size_t group_messages() const { return group_messages_; }
  std::size_t group_events() const { return group_events_; }

 private:
  template <typename T>
  T* Pick(std::vector<T*> v) {
    if (v.empty()) return nullptr;
    return v[rng_() % v.size()];
  }
  std::vector<ModelDevice*> Connected() {
    std::vector<ModelDevice*> v;
    for (auto& d : devices_) {
      if (d.session != nullptr) v.push_back(&d);
    }
    return v;
  }
  std::vector<ModelDevice*> Disconnected() {
    std::vector<ModelDevice*> v;
    for (auto& d : devices_) {
      if (d.session == nullptr) v.push_back(&d);
    }
    return v;
  }

  void StartEngine() { COURIER_REQUIRE_OK(rig_.Start(sut_.store())); }

  void Crash() {
    rig_.Stop();
    for (auto& d : devices_) {
      if (d.session != nullptr) EndConnection(d);
    }
    sut_.Reopen();
    StartEngine();
  }

  void Connect(ModelDevice* d) {
    if (d == nullptr) return;
    COURIER_REQUIRE_OK(d->Connect(rig_.engine(), static_cast<unsigned>(rng_() % 10)));
  }

  void EndConnection(ModelDevice& d) {
    Drain(d);
    d.Forget();
  }

  void Disconnect(ModelDevice* d) {
    if (d == nullptr) return;
    d->session->Disconnect();
    EndConnection(*d);
  }

  void Send(ModelDevice* d) {
    if (d == nullptr) return;
    if (!groups_.empty() && rng_() % 3 == 0) {
      SendToGroup(d);
      return;
    }
    std::vector<UserId> others;
    for (const auto& u : users_) {
      if (u != d->user) others.push_back(u);
    }
    const UserId to = others[rng_() % others.size()];
    auto& mine = cids_[d->user];
    if (!mine.empty() && rng_() % 5 == 0) {
      // Retry an earlier cid with its original body and recipient.
      auto it = mine.begin();
      std::advance(it, static_cast<long>(rng_() % mine.size()));
      Resend(*d, it->first, it->second);
      return;
    }
    const std::string cid = "c" + std::to_string(next_cid_++);
    const std::string body = "body " + cid + " from " + d->user;
    mine[cid] = SendRecord{d->user, to, body, std::nullopt, {}};
    by_body_[body] = mine[cid];
    d->session->Send(cid, to, body);
  }

  // Retries an earlier cid with its original body and recipient or group.
  void Resend(ModelDevice& d, const std::string& cid, const SendRecord& rec) {
    if (rec.group.empty()) {
      d.session->Send(cid, rec.to, rec.body);
    } else {
      d.session->SendToGroup(cid, rec.group, rec.body);
    }
  }

  // A send to a group this model has heard of; the device's user may not be
  // a member (not_member), or the group may be gone (unknown_group).
  void SendToGroup(ModelDevice* d) {
    auto it = groups_.begin();
    std::advance(it, static_cast<long>(rng_() % groups_.size()));
    const GroupId group = *it;
    const std::string cid = "c" + std::to_string(next_cid_++);
    const std::string body = "group body " + cid + " from " + d->user;
    cids_[d->user][cid] = SendRecord{d->user, {}, body, std::nullopt, group};
    by_body_[body] = cids_[d->user][cid];
    d->session->SendToGroup(cid, group, body);
  }

  // A random group change: a create with some of the other users, or an
  // add, remove, leave or rename of a group this model has heard of. Many
  // are refused (not an admin, not a member, the group is gone): the
  // refusal must write nothing, which Check's replay verifies.
  void ChangeGroup(ModelDevice* d) {
    if (d == nullptr) return;
    const std::string cid = "g" + std::to_string(next_cid_++);
    change_cids_[d->user].insert(cid);
    auto some_others = [&] {
      std::vector<UserId> v;
      for (const auto& u : users_) {
        if (u != d->user && rng_() % 2 == 0) v.push_back(u);
      }
      return v;
    };
    if (groups_.empty() || rng_() % 4 == 0) {
      d->session->ChangeGroup(cid, GroupAction::kCreate, {}, some_others(), "group " + cid);
      return;
    }
    auto it = groups_.begin();
    std::advance(it, static_cast<long>(rng_() % groups_.size()));
    const GroupId group = *it;
    switch (rng_() % 4) {
      case 0: {
        std::vector<UserId> add = some_others();
        if (add.empty()) add.push_back(users_[rng_() % users_.size()]);
        if (add.size() == 1 && add[0] == d->user) return;  // a bad_frame; not this test's
        d->session->ChangeGroup(cid, GroupAction::kAdd, group, add, {});
        break;
      }
      case 1: {
        std::vector<UserId> remove = some_others();
        if (remove.empty()) return;
        d->session->ChangeGroup(cid, GroupAction::kRemove, group, remove, {});
        break;
      }
      case 2:
        d->session->ChangeGroup(cid, GroupAction::kLeave, group, {}, {});
        break;
      default:
        d->session->ChangeGroup(cid, GroupAction::kRename, group, {}, "renamed " + cid);
        break;
    }
  }

  // The replay of every group's events (see the top of this file).
  void CheckGroups() {
    std::set<GroupId> seen;
    for (const auto& [user, events] : inbox_) {
      for (const auto& [seq, e] : events) {
        if (!e.group.empty()) seen.insert(e.group);
      }
    }
    std::map<UserId, std::set<GroupId>> groups_of;
    for (const GroupId& group : seen) {
      INFO("group " << group);
      // The group's events, each with the inboxes that hold it, and the order
      // each inbox gives them.
      std::map<MessageId, Event> content;
      std::map<MessageId, std::set<UserId>> holders;
      std::map<MessageId, std::set<MessageId>> next;
      std::map<MessageId, int> before;
      for (const auto& [user, events] : inbox_) {
        const MessageId* prev = nullptr;
        for (const auto& [seq, e] : events) {
          if (e.group != group) continue;
          INFO("inbox " << user << " " << Describe(e));
          REQUIRE((e.kind == EventKind::kMessage || e.kind == EventKind::kGroupChange));
          CHECK(holders[e.id].insert(user).second);
          auto [it, fresh] = content.emplace(e.id, e);
          if (!fresh) {
            // The same event in every inbox but for its seq.
            Event same = e;
            same.seq = it->second.seq;
            CHECK(same == it->second);
          }
          before.try_emplace(e.id, 0);
          if (prev != nullptr && next[*prev].insert(e.id).second) ++before[e.id];
          prev = &it->first;
        }
      }
      // The inboxes order the group's events totally: consecutive events of
      // a group always share an inbox (every member in between holds both).
      std::vector<MessageId> order;
      std::vector<MessageId> ready;
      for (const auto& [id, n] : before) {
        if (n == 0) ready.push_back(id);
      }
      while (!ready.empty()) {
        INFO("unordered events of the group: " << ready.size() << ", first " << ready[0]);
        REQUIRE(ready.size() == 1);
        const MessageId id = ready[0];
        ready.clear();
        order.push_back(id);
        for (const MessageId& n : next[id]) {
          if (--before[n] == 0) ready.push_back(n);
        }
      }
      REQUIRE(order.size() == content.size());  // no cycle

      // Replay.
      std::set<UserId> members, admins;
      bool created = false;
      for (const MessageId& id : order) {
        const Event& e = content.at(id);
        INFO("event " << Describe(e));
        std::set<UserId> expected;  // the inboxes it must be in
        if (e.kind == EventKind::kMessage) {
          CHECK(members.contains(e.peer));
          expected = members;
        } else {
          ++group_events_;
          auto change = DecodeGroupChange(e.body);
          COURIER_REQUIRE_OK(change);
          INFO("action " << GroupActionName(change->action));
          if (change->action != GroupAction::kCreate) CHECK(members.contains(e.peer));
          switch (change->action) {
            case GroupAction::kCreate:
              REQUIRE_FALSE(created);  // a group id is created once
              REQUIRE(!change->members.empty());
              CHECK(change->members[0] == e.peer);
              created = true;
              members.insert(change->members.begin(), change->members.end());
              admins = {e.peer};
              expected = members;
              break;
            case GroupAction::kAdd:
              CHECK(admins.contains(e.peer));
              for (const UserId& u : change->members) CHECK(members.insert(u).second);
              expected = members;
              break;
            case GroupAction::kRemove:
              CHECK(admins.contains(e.peer));
              expected = members;
              for (const UserId& u : change->members) {
                CHECK(members.erase(u) == 1);
                admins.erase(u);
              }
              break;
            case GroupAction::kLeave:
              REQUIRE_FALSE(change->members.empty());
              CHECK(change->members[0] == e.peer);
              expected = members;
              members.erase(e.peer);
              admins.erase(e.peer);
              if (change->members.size() > 1) {
                CHECK(members.contains(change->members[1]));
                CHECK(admins.empty());
                admins.insert(change->members[1]);
              }
              break;
            case GroupAction::kRename:
              CHECK(admins.contains(e.peer));
              expected = members;
              break;
          }
          CHECK((members.empty() || !admins.empty()));
        }
        REQUIRE(created);  // the create comes first
        CHECK(holders.at(id) == expected);
      }
      // The store's record is the replayed one.
      auto record = sut_.store().Group(group);
      if (members.empty()) {
        CHECK(record.status().code() == absl::StatusCode::kNotFound);
      } else {
        COURIER_REQUIRE_OK(record);
        std::set<UserId> stored_members, stored_admins;
        for (const GroupMember& m : record->members) {
          stored_members.insert(m.user);
          if (m.role == GroupRole::kAdmin) stored_admins.insert(m.user);
        }
        CHECK(stored_members == members);
        CHECK(stored_admins == admins);
      }
      for (const UserId& u : members) groups_of[u].insert(group);
    }
    for (const UserId& u : users_) {
      INFO("groups of " << u);
      auto records = sut_.store().GroupsOf(u);
      COURIER_REQUIRE_OK(records);
      std::set<GroupId> ids;
      for (const GroupRecord& r : *records) ids.insert(r.id);
      CHECK(ids == groups_of[u]);
    }
  }

  void Ack(ModelDevice* d) {
    if (d == nullptr || d->received == 0) return;
    Seq upto = d->received;
    if (rng_() % 3 == 0) upto = 1 + rng_() % d->received;
    d->AckUpTo(upto);
  }

  void Read(ModelDevice* d) {
    if (d == nullptr) return;
    std::vector<MessageId> ids = d->MessagesPicked([this] { return rng_() % 2 == 0; });
    if (ids.empty()) return;
    if (rng_() % 4 == 0) ids.push_back("not-a-message");
    d->session->Read(std::move(ids));
  }

  void RunSome() {
    const int n = 1 + static_cast<int>(rng_() % 6);
    for (int i = 0; i < n; ++i) {
      if (!rig_.executor().RunOne(rng_())) break;
    }
  }

  void RunAll() {
    rig_.executor().RunAll();
    DrainAll();
  }

  void Faults() {
    switch (rng_() % 3) {
      case 0:
        rig_.faults().SetDown(true);
        break;
      case 1:
        rig_.faults().SetDown(false);
        break;
      default:
        rig_.faults().FailAfter(rng_() % 4, 1);
        break;
    }
  }

  void TimePasses() {
    rig_.clock().Advance(static_cast<TimeMs>(rng_() % 1500));
    rig_.engine().Tick();
  }

  void DrainAll() {
    for (auto& d : devices_) {
      if (d.transport != nullptr) {
        Drain(d);
        d.ForgetIfClosed();
      }
    }
  }

  void Drain(ModelDevice& d) {
    if (d.transport == nullptr) return;
    INFO("device " << d.user << "/" << d.device);
    for (ServerFrame& f : d.transport->Take()) {
      if (auto* w = std::get_if<WelcomeFrame>(&f)) {
        REQUIRE_FALSE(d.welcomed);
        d.welcomed = true;
        CHECK(w->cursor <= w->head);
        const Seq start = d.since.has_value() ? std::min(*d.since, w->head) : w->cursor;
        d.next = start + 1;
        d.head_at_welcome = w->head;
      } else if (auto* e = std::get_if<EventFrame>(&f)) {
        REQUIRE(d.welcomed);
        // In order with no gap, except that events the device acked
        // beforehand (it had them from an earlier connection) are skipped.
        REQUIRE(e->event.seq >= d.next);
        if (e->event.seq != d.next) REQUIRE(e->event.seq - 1 <= d.acked);
        d.next = e->event.seq + 1;
        d.received = e->event.seq;
        if (!e->event.group.empty()) groups_.insert(e->event.group);
        auto [it, fresh] = inbox_[d.user].emplace(e->event.seq, e->event);
        if (!fresh) {
          INFO("first " << Describe(it->second) << "\nnow   " << Describe(e->event));
          REQUIRE(it->second == e->event);  // one content per seq
        }
        d.local[e->event.seq] = e->event;
      } else if (auto* s = std::get_if<SyncedFrame>(&f)) {
        REQUIRE(d.welcomed);
        CHECK(d.synced == 0);
        ++d.synced;
        d.needs_since = false;
        CHECK(s->seq == d.head_at_welcome);
        CHECK(std::max(d.next - 1, d.acked) >= d.head_at_welcome);
      } else if (auto* sent = std::get_if<SentFrame>(&f)) {
        CHECK(sent->skipped.empty());  // no inbox is ever full here
        auto& rec = cids_[d.user].at(sent->cid);
        if (rec.id.has_value()) {
          CHECK(*rec.id == sent->id);  // a repeated cid answers the first id
        } else {
          // duplicate may be true: an earlier send was stored but its `sent`
          // never arrived (disconnect, crash); the id is the stored one.
          rec.id = sent->id;
          by_id_[sent->id] = rec;
        }
        acknowledged_.insert(sent->id);
      } else if (auto* ok = std::get_if<GroupOkFrame>(&f)) {
        CHECK(change_cids_[d.user].contains(ok->cid));
        if (ok->version > 0) groups_.insert(ok->group);
      } else if (auto* err = std::get_if<ErrorFrame>(&f)) {
        INFO("error " << ErrorCodeName(err->code) << ": " << err->message << " cid " << err->cid);
        const bool group_op =
            change_cids_[d.user].contains(err->cid) ||
            (cids_[d.user].contains(err->cid) && !cids_[d.user].at(err->cid).group.empty());
        if (group_op && err->code != ErrorCode::kUnavailable) {
          // The refusals a random group op may meet (never group_full or
          // too_many_groups: the limits are far above this model's sizes).
          CHECK((err->code == ErrorCode::kUnknownGroup || err->code == ErrorCode::kNotMember ||
                 err->code == ErrorCode::kNotAdmin));
        } else {
          CHECK((err->code == ErrorCode::kUnavailable));
        }
      }
    }
  }

  std::mt19937_64 rng_;
  StoreUnderTest& sut_;
  EngineRig rig_;
  std::vector<UserId> users_;
  std::vector<ModelDevice> devices_;
  std::map<UserId, std::map<std::string, SendRecord>> cids_;
  std::map<UserId, std::set<std::string>> change_cids_;  // group changes sent
  std::set<GroupId> groups_;  // every group heard of (group_ok, inbox events)
  std::map<MessageId, SendRecord> by_id_;
  std::map<std::string, SendRecord> by_body_;
  std::set<MessageId> acknowledged_;
  std::map<UserId, std::map<Seq, Event>> inbox_;  // every event any device saw
  std::uint64_t next_cid_ = 0;
  std::size_t messages_ = 0;
  std::size_t group_messages_ = 0;
  std::size_t group_events_ = 0;
};

std::uint64_t EnvOr(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : std::strtoull(v, nullptr, 10);
}

template <typename MakeStore>
void RunSchedules(const char* name, std::uint64_t default_seeds, MakeStore make) {
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t first = 1, count = EnvOr("COURIER_MODEL_SEEDS", default_seeds);
  if (const char* one = std::getenv("COURIER_MODEL_SEED")) {
    first = std::strtoull(one, nullptr, 10);
    count = 1;
  }
  const int steps = static_cast<int>(EnvOr("COURIER_MODEL_STEPS", 250));
  std::size_t messages = 0, group_messages = 0, group_events = 0;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    INFO("failing schedule: replay with COURIER_MODEL_SEED=" << seed);
    auto sut = make(seed);
    Model model(seed, *sut);
    for (int i = 0; i < steps; ++i) model.Step();
    model.Quiesce();
    model.Check();
    messages += model.messages();
    group_messages += model.group_messages();
    group_events += model.group_events();
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "model test [" << name << "]: " << count << " schedules x " << steps
            << " steps, " << messages << " messages (" << group_messages << " to groups) and "
            << group_events << " group changes checked, " << secs << " s\n";
}

TEST_CASE("Model: random schedules keep every guarantee (memory store)", "[model]") {
  RunSchedules("memory", 10000, [](std::uint64_t) { return std::make_unique<MemoryUnderTest>(); });
}

#ifdef COURIER_HAVE_SQLITE
TEST_CASE("Model: random schedules keep every guarantee across SQLite reopen", "[model][sqlite]") {
  RunSchedules("sqlite", 1000, [](std::uint64_t seed) {
    return std::make_unique<DirStoreUnderTest>("sqlite", seed, [](const std::filesystem::path& d) {
      sqlite::SqliteOptions o = sqlite::SqliteOptions::Fast((d / "model.db").string());
      return sqlite::OpenMessageStore(o);
    });
  });
}
#endif

#ifdef COURIER_HAVE_ROCKSDB
TEST_CASE("Model: random schedules keep every guarantee across RocksDB reopen",
          "[model][rocksdb]") {
  // 300 by default: a RocksDB reopen costs some 25 fsyncs (MANIFEST, OPTIONS,
  // WAL), several times a SQLite reopen.
  RunSchedules("rocksdb", 300, [](std::uint64_t seed) {
    return std::make_unique<DirStoreUnderTest>("rocksdb", seed, [](const std::filesystem::path& d) {
      rocksdb::RocksdbOptions o = rocksdb::RocksdbOptions::Fast((d / "db").string());
      o.write_buffer_bytes = 1 << 20;
      return rocksdb::OpenMessageStore(o);
    });
  });
}

TEST_CASE("Model: random schedules keep every guarantee on RocksDB with staged writes",
          "[model][rocksdb][staged]") {
  // At power-loss durability, with stage_writes, RocksDB stages writes (MessageStore::WriteStaged):
  // the commit queue's flush and sync tasks and the lane tasks run in random
  // order. Fewer schedules: every sync is an fsync.
  RunSchedules("rocksdb staged", 100, [](std::uint64_t seed) {
    return std::make_unique<DirStoreUnderTest>("rocksdb", seed, [](const std::filesystem::path& d) {
      rocksdb::RocksdbOptions o = rocksdb::RocksdbOptions::Durable((d / "db").string());
      o.stage_writes = true;
      o.write_buffer_bytes = 1 << 20;
      return rocksdb::OpenMessageStore(o);
    });
  });
}
#endif

}  // namespace
}  // namespace courier::testing
