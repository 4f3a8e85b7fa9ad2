// The reference implementation of courier/message_store.h: every rule of the
// header, groups included (courier/group.h), kept in maps under one mutex.
// The durable adapters must behave the same way;
// tests/conformance/message_store_suite.h checks that they do.

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "courier/sync.h"
#include "courier/group.h"
#include "courier/memory.h"
#include "courier/message_store.h"
#include "courier/status.h"
#include "courier/types.h"

namespace courier::memory {
namespace {

// Where a message lives and how far it got. The status is kept here, not in
// the event: inbox events never change once appended.
struct MessageRef {
  Seq seq = 0;
  UserId sender;
  std::string cid;
  MessageStatus status = MessageStatus::kSent;
};

struct Inbox {
  Seq head = 0;
  // The highest cursor of any device: every message at or below it has been
  // delivered (and its receipt written) by some ack.
  Seq max_cursor = 0;
  std::map<Seq, Event> events;  // pruning may leave holes; seq is never reused
  std::map<DeviceId, Seq> cursors;
  absl::flat_hash_map<MessageId, MessageRef> messages;
};

// The first append of a (sender, cid). For a group send, the sender's own
// copy: `recipient` is the sender.
struct FirstAppend {
  UserId recipient;
  MessageId id;
  Seq seq = 0;
  TimeMs ts = 0;
};

class MemoryMessageStore final : public MessageStore {
 public:
  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    MutexLock lock(&mu_);
    std::vector<absl::StatusOr<WriteResult>> results;
    results.reserve(ops.size());
    for (const WriteOp& op : ops) {
      results.push_back(ApplyOp(op));
    }
    return results;
  }

  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    COURIER_RETURN_IF_ERROR(ValidateFetch(user, limit));
    MutexLock lock(&mu_);
    std::vector<Event> out;
    auto it = inboxes_.find(user);
    if (it == inboxes_.end()) return out;
    const auto& events = it->second.events;
    for (auto e = events.upper_bound(after); e != events.end() && out.size() < limit; ++e) {
      out.push_back(e->second);
      // The stored status tracks the message; the event itself reads kSent.
      if (out.back().kind == EventKind::kMessage) out.back().status = MessageStatus::kSent;
    }
    return out;
  }

  absl::StatusOr<Seq> Head(const UserId& user) override {
    MutexLock lock(&mu_);
    auto it = inboxes_.find(user);
    return it == inboxes_.end() ? 0 : it->second.head;
  }

  absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) override {
    MutexLock lock(&mu_);
    auto it = inboxes_.find(user);
    if (it == inboxes_.end()) return 0;
    auto c = it->second.cursors.find(device);
    return c == it->second.cursors.end() ? 0 : c->second;
  }

  absl::StatusOr<MessageStatus> Status(const UserId& recipient, const MessageId& id) override {
    MutexLock lock(&mu_);
    auto it = inboxes_.find(recipient);
    if (it != inboxes_.end()) {
      auto m = it->second.messages.find(id);
      if (m != it->second.messages.end()) return m->second.status;
    }
    return absl::NotFoundError(absl::StrCat("no message ", id, " for ", recipient));
  }

  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override {
    MutexLock lock(&mu_);
    std::size_t removed = 0;
    for (auto& [user, inbox] : inboxes_) {
      Seq acked_by_all = 0;
      if (!inbox.cursors.empty()) {
        acked_by_all = inbox.cursors.begin()->second;
        for (const auto& [device, cursor] : inbox.cursors) {
          acked_by_all = std::min(acked_by_all, cursor);
        }
      }
      for (auto e = inbox.events.begin(); e != inbox.events.end();) {
        const Event& ev = e->second;
        const TimeMs age = options.now - ev.ts;
        const bool expired = age > options.ttl_ms;
        const bool acked_and_old = ev.seq <= acked_by_all && age > options.acked_retention_ms;
        if (!expired && !acked_and_old) {
          ++e;
          continue;
        }
        if (ev.kind == EventKind::kMessage) {
          auto m = inbox.messages.find(ev.id);
          if (m != inbox.messages.end()) {
            ForgetFirstAppend(user, ev.id, m->second);
            inbox.messages.erase(m);
          }
        }
        e = inbox.events.erase(e);
        ++removed;
      }
    }
    return removed;
  }

  absl::StatusOr<std::size_t> DeleteInbox(const UserId& user) override {
    if (auto s = ValidateName("user", user); !s.ok()) return s;
    MutexLock lock(&mu_);
    auto it = inboxes_.find(user);
    if (it == inboxes_.end()) return 0;
    // The (sender, cid) records of the messages it received go with them.
    for (const auto& [id, ref] : it->second.messages) ForgetFirstAppend(user, id, ref);
    const std::size_t removed = it->second.events.size();
    inboxes_.erase(it);
    return removed;
  }

  absl::StatusOr<GroupRecord> Group(const GroupId& id) override {
    MutexLock lock(&mu_);
    auto it = groups_.find(id);
    if (it == groups_.end()) {
      return MakeGroupError(GroupError::kUnknownGroup, absl::StrCat("no group ", id));
    }
    return it->second;
  }

  absl::StatusOr<std::vector<GroupRecord>> GroupsOf(const UserId& user) override {
    MutexLock lock(&mu_);
    std::vector<GroupRecord> out;
    auto it = groups_of_.find(user);
    if (it == groups_of_.end()) return out;
    out.reserve(it->second.size());
    for (const GroupId& id : it->second) out.push_back(groups_.at(id));
    return out;
  }

  absl::Status Ping() override { return absl::OkStatus(); }

 private:
  absl::StatusOr<WriteResult> ApplyOp(const WriteOp& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (absl::Status s = ValidateWriteOp(op); !s.ok()) return s;
    return std::visit(
        [&](const auto& valid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return Apply(valid); }, op);
  }

  // Drops the (sender, cid) record `ref` names if it belongs to this copy
  // (user's message `id`): a group send's record belongs to the sender's own
  // copy only, and a later send may have reused the cid after a prune.
  void ForgetFirstAppend(const UserId& user, const MessageId& id, const MessageRef& ref)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto first = first_appends_.find(std::make_pair(ref.sender, ref.cid));
    if (first != first_appends_.end() && first->second.recipient == user &&
        first->second.id == id) {
      first_appends_.erase(first);
    }
  }

  // True when (sender, cid) was appended or sent before; then `result` (an
  // AppendResult or GroupSendResult) is the first one's, marked duplicate.
  template <typename Result>
  bool FoundFirst(const UserId& sender, const std::string& cid, Result& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto first = first_appends_.find(std::make_pair(sender, cid));
    if (first == first_appends_.end()) return false;
    result.id = first->second.id;
    result.seq = first->second.seq;
    result.ts = first->second.ts;
    result.duplicate = true;
    return true;
  }

  absl::StatusOr<WriteResult> Apply(const AppendOp& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    AppendResult result;
    if (FoundFirst(op.sender, op.cid, result)) return result;
    Inbox& inbox = inboxes_[op.recipient];
    if (absl::Status s =
            CheckAppend(op, inbox.head, inbox.max_cursor, inbox.messages.contains(op.id));
        !s.ok()) {
      return s;
    }
    Event ev = MessageEventOf(op);
    ev.seq = ++inbox.head;
    inbox.events.emplace(ev.seq, ev);
    inbox.messages.emplace(op.id, MessageRef{ev.seq, op.sender, op.cid, MessageStatus::kSent});
    first_appends_.emplace(std::make_pair(op.sender, op.cid),
                           FirstAppend{op.recipient, op.id, ev.seq, op.ts});
    result.id = op.id;
    result.seq = ev.seq;
    result.ts = op.ts;
    result.duplicate = false;
    result.appended.push_back(Appended{op.recipient, std::move(ev)});
    return result;
  }

  absl::StatusOr<WriteResult> Apply(const AttachOp& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Inbox& inbox = inboxes_[op.user];
    Seq& cursor = inbox.cursors[op.device];  // 0 when new
    return AttachResult{cursor, inbox.head};
  }

  absl::StatusOr<WriteResult> Apply(const AckOp& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto found = inboxes_.find(op.user);
    const Seq head = found == inboxes_.end() ? 0 : found->second.head;
    if (op.seq > head) return AckBeyondHeadError(op, head);
    Inbox& inbox = inboxes_[op.user];
    Seq& cursor = inbox.cursors[op.device];
    cursor = std::max(cursor, op.seq);
    AckResult result;
    result.cursor = cursor;
    if (cursor > inbox.max_cursor) {
      // Collect first: a message to oneself puts its receipt into this inbox.
      std::vector<std::pair<MessageId, UserId>> newly;  // (id, sender)
      for (auto e = inbox.events.upper_bound(inbox.max_cursor);
           e != inbox.events.end() && e->first <= cursor; ++e) {
        if (e->second.kind != EventKind::kMessage) continue;
        MessageRef& ref = inbox.messages.at(e->second.id);
        if (ref.status != MessageStatus::kSent) continue;
        ref.status = MessageStatus::kDelivered;
        newly.emplace_back(e->second.id, ref.sender);
      }
      inbox.max_cursor = cursor;
      for (const auto& [id, sender] : newly) {
        result.appended.push_back(
            AppendReceipt(sender, id, op.user, MessageStatus::kDelivered, op.ts));
      }
    }
    return result;
  }

  absl::StatusOr<WriteResult> Apply(const ReadOp& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ReadResult result;
    auto found = inboxes_.find(op.user);
    if (found == inboxes_.end()) return result;
    Inbox& inbox = found->second;
    for (const MessageId& id : op.ids) {
      auto m = inbox.messages.find(id);
      if (m == inbox.messages.end()) continue;
      const MessageStatus status = m->second.status;
      if (status == MessageStatus::kRead) continue;
      m->second.status = MessageStatus::kRead;
      const UserId sender = m->second.sender;
      if (status == MessageStatus::kSent) {
        result.appended.push_back(
            AppendReceipt(sender, id, op.user, MessageStatus::kDelivered, op.ts));
      }
      result.appended.push_back(AppendReceipt(sender, id, op.user, MessageStatus::kRead, op.ts));
    }
    return result;
  }

  absl::StatusOr<WriteResult> Apply(const GroupSendOp& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    GroupSendResult result;
    if (FoundFirst(op.sender, op.cid, result)) return result;
    auto group = groups_.find(op.group);
    auto recipients = GroupSendRecipients(
        group == groups_.end() ? std::nullopt : std::optional<GroupRecord>(group->second),
        op.sender);
    if (!recipients.ok()) return recipients.status();
    // Every refusal before the first write: a refused op writes nothing.
    std::vector<Inbox*> to;
    to.reserve(recipients->size());
    for (const UserId& user : *recipients) {
      Inbox& inbox = inboxes_[user];
      if (inbox.messages.contains(op.id)) return MessageIdTakenError(user, op.id);
      to.push_back(&inbox);
    }
    // Neither callback fails: FanOutGroupSend returns a result.
    return FanOutGroupSend(
        op, *recipients,
        [&](std::size_t i) -> absl::StatusOr<std::uint64_t> {
          return to[i]->head - to[i]->max_cursor;
        },
        [&](std::size_t i, const Event& event, bool own) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
            mu_) -> absl::StatusOr<Event> {
          Event ev = event;
          ev.seq = ++to[i]->head;
          to[i]->events.emplace(ev.seq, ev);
          // The sender's own copy is read already: it produces no receipts.
          to[i]->messages.emplace(
              op.id, MessageRef{ev.seq, op.sender, op.cid,
                                own ? MessageStatus::kRead : MessageStatus::kSent});
          if (own) {
            first_appends_.emplace(std::make_pair(op.sender, op.cid),
                                   FirstAppend{op.sender, op.id, ev.seq, op.ts});
          }
          return ev;
        });
  }

  absl::StatusOr<WriteResult> Apply(const GroupChangeOp& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto found = groups_.find(op.group);
    absl::StatusOr<WriteResult> out;
    // Counting and writing never fail here: the status is always OK.
    PlanAndWriteGroupChange(
        found == groups_.end() ? std::nullopt : std::optional<GroupRecord>(found->second), op,
        [this](const UserId& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
            mu_) -> absl::StatusOr<std::size_t> {
          auto it = groups_of_.find(user);
          return it == groups_of_.end() ? 0 : it->second.size();
        },
        [&](const GroupChangePlan& plan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
            mu_) -> absl::StatusOr<std::vector<Appended>> {
          return StoreGroupChange(op.group, plan);
        },
        out)
        .IgnoreError();
    return out;
  }

  // Writes what `plan` says for group `id` (PlanAndWriteGroupChange's
  // `write`): the record, the index, and the change event of each told inbox.
  std::vector<Appended> StoreGroupChange(const GroupId& id, const GroupChangePlan& plan)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (plan.after.has_value()) {
      groups_[id] = *plan.after;
    } else {
      groups_.erase(id);
    }
    for (const UserId& user : plan.joined) groups_of_[user].insert(id);
    for (const UserId& user : plan.left) {
      auto it = groups_of_.find(user);
      if (it == groups_of_.end()) continue;
      it->second.erase(id);
      if (it->second.empty()) groups_of_.erase(it);
    }
    std::vector<Appended> appended;
    for (const UserId& user : plan.told) {
      Inbox& inbox = inboxes_[user];
      Event ev = plan.event;
      ev.seq = ++inbox.head;
      inbox.events.emplace(ev.seq, ev);
      appended.push_back(Appended{user, std::move(ev)});
    }
    return appended;
  }

  // Appends a receipt to `sender`'s inbox. Receipts are never refused.
  Appended AppendReceipt(const UserId& sender, const MessageId& id, const UserId& by,
                         MessageStatus status, TimeMs ts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Inbox& inbox = inboxes_[sender];
    Event ev = ReceiptEventOf(id, by, status, ts);
    ev.seq = ++inbox.head;
    inbox.events.emplace(ev.seq, ev);
    return Appended{sender, std::move(ev)};
  }

  Mutex mu_;
  // A node map keeps references stable while a receipt adds another inbox.
  // (Hash maps: the W1 profile of `courier-server --store memory` showed
  // 18 % of the server in this store's ordered maps of strings.)
  absl::node_hash_map<UserId, Inbox> inboxes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::pair<UserId, std::string>, FirstAppend> first_appends_
      ABSL_GUARDED_BY(mu_);
  // Groups: the records, and the groups of each user (sorted by id).
  absl::flat_hash_map<GroupId, GroupRecord> groups_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<UserId, std::set<GroupId>> groups_of_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<MessageStore> OpenMessageStore() {
  return std::make_unique<MemoryMessageStore>();
}

}  // namespace courier::memory
