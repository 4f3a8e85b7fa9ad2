// tests/conformance/several_servers.h: scenarios of several servers, each
// with its own MessageStore instance on one shared database, writing at
// once. For the adapters whose instances share a database server (postgres,
// mongo): each adapter's test opens the servers its own way and runs these.
#ifndef COURIER_TESTS_CONFORMANCE_SEVERAL_SERVERS_H_
#define COURIER_TESTS_CONFORMANCE_SEVERAL_SERVERS_H_

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/message_store_suite.h"
#include "courier/group.h"
#include "courier/message_store.h"
#include "support/status_matchers.h"

namespace courier::conformance::several_servers {

using Servers = std::vector<std::unique_ptr<MessageStore>>;

// The recipients AppendToSharedInboxesAtOnce writes to.
inline const std::vector<UserId>& SharedInboxes() {
  static const std::vector<UserId> recipients = {"r0", "r1", "r2"};
  return recipients;
}

// Server `s`'s batch `b`: `per_batch` messages of its own spread over the
// shared inboxes (rows locked in different orders by different servers),
// and one more whose (sender, cid) every server sends.
inline std::vector<WriteOp> SharedInboxBatch(int s, int b, int per_batch) {
  using message_store_cases::Message;
  const std::vector<UserId>& recipients = SharedInboxes();
  const UserId sender = "s" + std::to_string(s);
  std::vector<WriteOp> batch;
  for (int i = 0; i < per_batch; ++i) {
    const int n = b * per_batch + i;
    batch.push_back(Message(sender, std::to_string(n), recipients[(n + s) % 3]));
  }
  batch.push_back(Message("shared", std::to_string(b), recipients[b % 3]));
  return batch;
}

// What AppendToSharedInboxesAtOnce checks, given each server's results of
// its batches in order: every message is stored once (each shared one by
// one server), every inbox is gapless, and each server's sends to an inbox
// keep their order (read through `reader`).
inline void CheckSharedInboxes(
    const std::vector<std::vector<absl::StatusOr<WriteResult>>>& results, MessageStore& reader,
    int batches, int per_batch) {
  const int n_servers = static_cast<int>(results.size());
  int fresh_shared = 0;
  for (const auto& per_server : results) {
    REQUIRE(per_server.size() == static_cast<std::size_t>(batches * (per_batch + 1)));
    for (const auto& r : per_server) {
      COURIER_REQUIRE_OK(r);
      const auto& a = std::get<AppendResult>(*r);
      if (a.id.rfind("id-shared-", 0) == 0) {
        if (!a.duplicate) ++fresh_shared;
      } else {
        CHECK_FALSE(a.duplicate);
      }
    }
  }
  CHECK(fresh_shared == batches);

  std::size_t total = 0;
  for (const UserId& r : SharedInboxes()) {
    auto events = reader.Fetch(r, 0, 100'000);
    COURIER_REQUIRE_OK(events);
    auto head = reader.Head(r);
    COURIER_REQUIRE_OK(head);
    REQUIRE(*head == events->size());
    std::set<MessageId> ids;
    std::map<UserId, int> last_n;  // per sender: the previous cid number
    for (std::size_t i = 0; i < events->size(); ++i) {
      const Event& e = (*events)[i];
      REQUIRE(e.seq == i + 1);  // gapless, in order
      REQUIRE(e.kind == EventKind::kMessage);
      REQUIRE(ids.insert(e.id).second);  // no (sender, cid) twice
      // A server's sends to one inbox keep their order.
      const int n = std::stoi(e.id.substr(e.id.rfind('-') + 1));
      auto [it, fresh] = last_n.emplace(e.peer, n);
      if (!fresh) {
        CHECK(n > it->second);
        it->second = n;
      }
    }
    total += events->size();
  }
  CHECK(total == static_cast<std::size_t>(n_servers * batches * per_batch + batches));
}

// Every server sends `batches` SharedInboxBatch batches at once, each
// server writing as the commit queue does: ops answered kAborted (a
// conflict) are written again, up to `max_attempts` Writes. Then
// CheckSharedInboxes.
inline void AppendToSharedInboxesAtOnce(const Servers& servers, MessageStore& reader,
                                        int batches, int per_batch, int max_attempts) {
  const int n_servers = static_cast<int>(servers.size());
  std::vector<std::vector<absl::StatusOr<WriteResult>>> results(servers.size());
  std::vector<std::thread> threads;
  for (int s = 0; s < n_servers; ++s) {
    threads.emplace_back([&, s] {
      for (int b = 0; b < batches; ++b) {
        for (auto& r : WriteRetryingConflicts(*servers[s], SharedInboxBatch(s, b, per_batch),
                                              max_attempts)) {
          results[s].push_back(std::move(r));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CheckSharedInboxes(results, reader, batches, per_batch);
}

// Every server acks and reads one inbox at once, each through a device of
// its own: "alice" sent `messages` to "bob"; server s's device "d<s>" acks
// further each batch and reads some of the messages, `run` acks and `run`
// reads per batch (a run of eight or more takes an adapter's set-based
// path, if it has one), written as the commit queue does (kAborted written
// again, up to `max_attempts` Writes). At the end every device has acked
// everything. Read through `reader`: alice's inbox holds exactly one
// delivered receipt per message and one read receipt per message read,
// whichever server's ack or read came first.
inline void AckAndReadOneInboxAtOnce(const Servers& servers, MessageStore& reader, int messages,
                                     int run, int max_attempts) {
  std::vector<WriteOp> sends;
  for (int i = 1; i <= messages; ++i) {
    sends.push_back(message_store_cases::Message("alice", absl::StrCat("m", i), "bob", 1'000));
  }
  for (const auto& r : WriteRetryingConflicts(*servers[0], sends, max_attempts)) {
    COURIER_REQUIRE_OK(r);
  }
  const int n_servers = static_cast<int>(servers.size());
  std::vector<std::set<MessageId>> read(servers.size());
  std::vector<std::vector<absl::Status>> failures(servers.size());  // (Catch2 is not thread-safe)
  std::vector<std::thread> threads;
  for (int s = 0; s < n_servers; ++s) {
    threads.emplace_back([&, s] {
      const DeviceId device = absl::StrCat("d", s);
      std::vector<WriteOp> attach = {AttachOp{"bob", device}};
      for (const auto& r : WriteRetryingConflicts(*servers[s], attach, max_attempts)) {
        if (!r.ok()) failures[s].push_back(r.status());
      }
      constexpr int kBatches = 8;
      for (int b = 0; b < kBatches; ++b) {
        // Acks spread over the inbox, ending at its head in the last batch;
        // reads of messages above and below the cursors.
        std::vector<WriteOp> ops;
        const int top = b + 1 == kBatches ? messages : (b + 1) * messages / kBatches - s;
        for (int k = 0; k < run; ++k) {
          ops.push_back(AckOp{"bob", device,
                              static_cast<Seq>(std::max(1, top - (run - 1 - k))), 2'000});
        }
        for (int k = 0; k < run; ++k) {
          const int i = 1 + (s * 7 + b * 13 + k * 5) % messages;
          const MessageId id = message_store_cases::IdOf("alice", absl::StrCat("m", i));
          read[s].insert(id);
          ops.push_back(ReadOp{"bob", {id}, 3'000});
        }
        for (const auto& r : WriteRetryingConflicts(*servers[s], ops, max_attempts)) {
          if (!r.ok()) failures[s].push_back(r.status());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& f : failures) {
    for (const absl::Status& status : f) UNSCOPED_INFO(status.ToString());
    CHECK(f.empty());
  }

  std::set<MessageId> all_read;
  for (const auto& r : read) all_read.insert(r.begin(), r.end());
  std::map<MessageId, int> delivered;
  std::map<MessageId, int> reads;
  for (const Event& e : message_store_cases::FetchAll(reader, "alice")) {
    REQUIRE(e.kind == EventKind::kReceipt);
    (e.status == MessageStatus::kDelivered ? delivered : reads)[e.id] += 1;
  }
  CHECK(delivered.size() == static_cast<std::size_t>(messages));
  for (const auto& [id, n] : delivered) {
    INFO("delivered receipts of " << id);
    CHECK(n == 1);
  }
  CHECK(reads.size() == all_read.size());
  for (const auto& [id, n] : reads) {
    INFO("read receipts of " << id);
    CHECK(n == 1);
    CHECK(all_read.count(id) == 1);
  }
}

// A change of group "g" by `actor`.
inline GroupChangeOp ChangeOfG(GroupAction action, const UserId& actor,
                               std::vector<UserId> members, const std::string& id) {
  GroupChangeOp op;
  op.action = action;
  op.actor = actor;
  op.group = "g";
  op.members = std::move(members);
  if (action == GroupAction::kCreate) op.name = "the group";
  op.id = id;
  op.ts = 1'000;
  op.limits.max_members = kMaxGroupMembers;
  return op;
}

// A post of `sender` to group "g".
inline GroupSendOp PostToG(const UserId& sender, const std::string& cid) {
  GroupSendOp op;
  op.sender = sender;
  op.cid = cid;
  op.group = "g";
  op.id = "id-" + sender + "-" + cid;
  op.body = "body " + cid;
  op.ts = 2'000;
  return op;
}

// Every server creates group "g" at once: one wins. Then each adds `adds`
// users of its own, one batch at a time, and "admin" posts to the group in
// the same batches, from every server at once. Each server writes as the
// commit queue does: ops answered kAborted (a conflict) are written again,
// up to `max_attempts` Writes. Read through `reader`: no member is lost, and every post
// and change reaches the admin's inbox exactly once, and each member's inbox
// from its own add on.
inline void ChangeOneGroupAtOnce(const Servers& servers, MessageStore& reader, int adds,
                                 int max_attempts) {
  const int n_servers = static_cast<int>(servers.size());
  auto write = [max_attempts](MessageStore& store, const std::vector<WriteOp>& ops) {
    return WriteRetryingConflicts(store, ops, max_attempts);
  };

  std::vector<absl::Status> created(servers.size());
  {
    std::vector<std::thread> threads;
    for (int s = 0; s < n_servers; ++s) {
      threads.emplace_back([&, s] {
        const std::vector<WriteOp> ops = {
            ChangeOfG(GroupAction::kCreate, "admin", {}, absl::StrCat("create-", s))};
        created[s] = write(*servers[s], ops)[0].status();
      });
    }
    for (auto& t : threads) t.join();
  }
  int won = 0;
  for (const absl::Status& st : created) {
    INFO(st.ToString());
    if (st.ok()) {
      ++won;
    } else {
      CHECK(GroupErrorOf(st) == GroupError::kGroupExists);
    }
  }
  REQUIRE(won == 1);

  std::vector<std::vector<absl::StatusOr<WriteResult>>> results(servers.size());
  std::vector<std::thread> threads;
  for (int s = 0; s < n_servers; ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < adds; ++i) {
        const std::string n = absl::StrCat(s, "-", i);
        const std::vector<WriteOp> ops = {
            ChangeOfG(GroupAction::kAdd, "admin", {"u" + n}, "add-" + n),
            PostToG("admin", "post-" + n)};
        for (auto& r : write(*servers[s], ops)) results[s].push_back(std::move(r));
      }
    });
  }
  for (auto& t : threads) t.join();

  std::set<UserId> added = {"admin"};
  for (int s = 0; s < n_servers; ++s) {
    for (const auto& r : results[s]) COURIER_REQUIRE_OK(r);
    for (int i = 0; i < adds; ++i) added.insert(absl::StrCat("u", s, "-", i));
  }
  auto group = reader.Group("g");
  COURIER_REQUIRE_OK(group);
  std::set<UserId> members;
  for (const GroupMember& m : group->members) members.insert(m.user);
  CHECK(members == added);
  CHECK(group->version == static_cast<decltype(group->version)>(1 + n_servers * adds));
  for (const UserId& u : added) {
    INFO(u);
    auto mine = reader.GroupsOf(u);
    COURIER_REQUIRE_OK(mine);
    REQUIRE(mine->size() == 1);
    CHECK((*mine)[0] == *group);
  }

  // The admin's inbox: the create, every add and every post, gapless, each
  // once.
  auto events = reader.Fetch("admin", 0, 100'000);
  COURIER_REQUIRE_OK(events);
  REQUIRE(events->size() == static_cast<std::size_t>(1 + 2 * n_servers * adds));
  std::set<MessageId> ids;
  for (std::size_t i = 0; i < events->size(); ++i) {
    REQUIRE((*events)[i].seq == i + 1);
    CHECK((*events)[i].group == "g");
    CHECK(ids.insert((*events)[i].id).second);
  }

  // Each added user: its own add first, then exactly the posts (and adds)
  // the admin stored after it joined, in the admin's order.
  std::vector<MessageId> admin_order;
  for (const Event& e : *events) admin_order.push_back(e.id);
  for (const UserId& u : added) {
    if (u == "admin") continue;
    INFO(u);
    auto got = reader.Fetch(u, 0, 100'000);
    COURIER_REQUIRE_OK(got);
    REQUIRE_FALSE(got->empty());
    const Event& joined = got->front();
    CHECK(joined.kind == EventKind::kGroupChange);
    CHECK(joined.group == "g");
    CHECK(joined.id == "add-" + u.substr(1));
    std::size_t at = 0;
    while (admin_order[at] != joined.id) ++at;
    std::vector<MessageId> want(admin_order.begin() + static_cast<std::ptrdiff_t>(at),
                                admin_order.end());
    std::vector<MessageId> have;
    for (const Event& e : *got) have.push_back(e.id);
    CHECK(have == want);
  }
}

}  // namespace courier::conformance::several_servers

#endif  // COURIER_TESTS_CONFORMANCE_SEVERAL_SERVERS_H_
