// courier::mongo MessageStore: one transaction per Write batch when the
// deployment has transactions (see courier/mongo.h for the collections).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "courier/mongo.h"
#include "courier/status.h"
#include "mongo_client.h"
#include "mongo_error.h"
#include "mongo_groups.h"
#include "mongo_inbox.h"

namespace courier::mongo {
namespace {

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();
// Without transactions: how long a server waits for a (sender, cid) that
// another one claimed (50 x 20 ms; see kPendingSeq).
constexpr int kClaimWaitLooks = 50;

// The message document of an append (without its seq "s").
Doc MessageDoc(const AppendOp& a) {
  Doc msg = IdFilter(a.id);
  AppendStr(msg.get(), "r", a.recipient);
  AppendStr(msg.get(), "snd", a.sender);
  AppendBin(msg.get(), "cid", a.cid);
  BSON_APPEND_INT64(msg.get(), "t", a.ts);
  BSON_APPEND_INT32(msg.get(), "st", 0);
  return msg;
}

// {<op>: {<field>: <value>}}, e.g. {$set: {st: 2}}.
Doc Op(const char* op, const char* field, std::int64_t value) {
  Doc d;
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(d.get(), op, &sub);
  BSON_APPEND_INT64(&sub, field, value);
  bson_append_document_end(d.get(), &sub);
  return d;
}

// The cursor of `device` in an inbox_heads document.
std::optional<std::int64_t> DeviceCursor(const Doc& head, absl::string_view device) {
  bson_iter_t it, arr;
  if (!bson_iter_init_find(&it, head.get(), "dev") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &arr)) {
    return std::nullopt;
  }
  while (bson_iter_next(&arr)) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) continue;
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_document(&arr, &len, &data);
    bson_t inner;
    if (!bson_init_static(&inner, data, len)) continue;
    Doc dev(&inner);
    if (dev.Str("d") == device) return dev.Int("c");
  }
  return std::nullopt;
}

// All cursors of an inbox_heads document.
std::vector<std::int64_t> AllCursors(const bson_t& head) {
  std::vector<std::int64_t> out;
  bson_iter_t it, arr;
  if (!bson_iter_init_find(&it, &head, "dev") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &arr)) {
    return out;
  }
  while (bson_iter_next(&arr)) {
    bson_iter_t c;
    if (BSON_ITER_HOLDS_DOCUMENT(&arr) && bson_iter_recurse(&arr, &c) &&
        bson_iter_find(&c, "c") && BSON_ITER_HOLDS_NUMBER(&c)) {
      out.push_back(bson_iter_as_int64(&c));
    }
  }
  return out;
}

struct Receipt {
  UserId sender;
  MessageId id;
  MessageStatus status;
  std::string doc_id;  // the message document's _id (GroupCopyId for a group copy)
};

// {_id: {$in: [id, GroupCopyId(id, recipient)]}, r: recipient}: the message
// document of `id` in `recipient`'s inbox, a 1:1 message or a group copy.
Doc ReceivedFilter(const MessageId& id, const UserId& recipient) {
  Doc f;
  bson_t in, values;
  BSON_APPEND_DOCUMENT_BEGIN(f.get(), "_id", &in);
  BSON_APPEND_ARRAY_BEGIN(&in, "$in", &values);
  AppendStr(&values, "0", id);
  AppendStr(&values, "1", GroupCopyId(id, recipient));
  bson_append_array_end(&in, &values);
  bson_append_document_end(f.get(), &in);
  AppendStr(f.get(), "r", recipient);
  return f;
}

class MongoMessageStore final : public MessageStore, public PooledStore {
 public:
  using PooledStore::PooledStore;

  static std::vector<MongoPool::Index> Indexes() {
    auto keys = [](std::initializer_list<const char*> fields) {
      Doc d;
      for (const char* f : fields) BSON_APPEND_INT32(d.get(), f, 1);
      return d;
    };
    return {
        {kEvents, "u_1_s_1", keys({"u", "s"}), true},
        {kEvents, "t_1", keys({"t"}), false},
        {kMessages, "snd_1_cid_1", keys({"snd", "cid"}), true},
        {kMessages, "r_1_st_1_s_1", keys({"r", "st", "s"}), false},
        {kGroupMembers, "u_1", keys({"u"}), false},
    };
  }

  std::vector<absl::StatusOr<WriteResult>> Write(absl::Span<const WriteOp> ops) override {
    std::vector<absl::StatusOr<WriteResult>> results(ops.size(),
                                                     absl::InternalError("not run"));
    std::vector<std::size_t> valid;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      absl::Status s = ValidateWriteOp(ops[i]);
      if (s.ok()) {
        valid.push_back(i);
      } else {
        results[i] = s;
      }
    }
    if (valid.empty()) return results;
    std::vector<Doc> events;
    absl::Status s = pool_->RunAtomic([&](MongoCall& call) -> absl::Status {
      events.clear();
      for (std::size_t k = 0; k < valid.size();) {
        // A run of consecutive appends is stored in bulk (AppendRun); any
        // other op on its own.
        std::size_t end = k;
        while (end < valid.size() && std::holds_alternative<AppendOp>(ops[valid[end]])) ++end;
        if (end == k) end = k + 1;
        absl::Status applied =
            end - k > 1 || std::holds_alternative<AppendOp>(ops[valid[k]])
                ? AppendRun(call, ops, absl::MakeConstSpan(valid).subspan(k, end - k), results,
                            &events)
                : Apply(call, ops[valid[k]], &results[valid[k]], &events);
        if (applied.ok() && !call.in_transaction()) {
          // Without a transaction each run or op is applied on its own, its
          // events right after it.
          applied = call.InsertMany(kEvents, events);
          events.clear();
        }
        if (!applied.ok()) {
          if (call.in_transaction()) return applied;  // the batch rolls back
          for (std::size_t rest = k; rest < valid.size(); ++rest) results[valid[rest]] = applied;
          return absl::OkStatus();
        }
        k = end;
      }
      return call.InsertMany(kEvents, events);  // one bulk insert per batch
    });
    if (!s.ok()) {
      for (std::size_t i : valid) results[i] = s;
    }
    return results;
  }

  absl::StatusOr<std::vector<Event>> Fetch(const UserId& user, Seq after,
                                           std::size_t limit) override {
    COURIER_RETURN_IF_ERROR(ValidateFetch(user, limit));
    std::vector<Event> events;
    if (after >= static_cast<std::uint64_t>(kMaxInt)) return events;
    Doc filter, opts;
    AppendStr(filter.get(), "u", user);
    bson_t range, sort;
    BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "s", &range);
    BSON_APPEND_INT64(&range, "$gt", static_cast<std::int64_t>(after));
    bson_append_document_end(filter.get(), &range);
    BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "sort", &sort);
    BSON_APPEND_INT32(&sort, "s", 1);
    bson_append_document_end(opts.get(), &sort);
    BSON_APPEND_INT64(opts.get(), "limit",
                      static_cast<std::int64_t>(std::min<std::size_t>(limit, 1'000'000)));
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) {
      return call.Find(kEvents, *filter.get(), opts.get(), [&](const Doc& d) {
        Event e;
        e.seq = static_cast<Seq>(d.Int("s"));
        e.kind = static_cast<EventKind>(d.Int("k", 1));
        e.id = d.Str("m");
        e.peer = d.Str("p");
        e.body = d.Str("b");
        e.status = static_cast<MessageStatus>(d.Int("st"));
        e.ts = d.Int("t");
        e.group = d.Str("g");
        events.push_back(std::move(e));
      });
    }));
    if (!pool_->transactions()) {
      // Without transactions a later seq's event can land before an earlier
      // one that another server is still writing: stop before a fresh gap,
      // so that a device never acks past an event it has not seen. A gap
      // older than kStaleClaimMs is taken as permanent (a crashed writer).
      Seq expected = after + 1;
      for (std::size_t i = 0; i < events.size(); ++i) {
        if (events[i].seq != expected && NowMs() - events[i].ts < kStaleClaimMs) {
          events.resize(i);
          break;
        }
        expected = events[i].seq + 1;
      }
    }
    return events;
  }

  absl::StatusOr<Seq> Head(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    std::optional<Doc> head;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      COURIER_ASSIGN_OR_RETURN(head, call.FindOne(kHeads, *IdFilter(user).get()));
      return absl::OkStatus();
    }));
    return head ? static_cast<Seq>(head->Int("head")) : 0;
  }

  absl::StatusOr<Seq> Cursor(const UserId& user, const DeviceId& device) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    COURIER_RETURN_IF_ERROR(ValidateName("device", device));
    std::optional<Doc> head;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      COURIER_ASSIGN_OR_RETURN(head, call.FindOne(kHeads, *IdFilter(user).get()));
      return absl::OkStatus();
    }));
    if (!head) return 0;
    return static_cast<Seq>(DeviceCursor(*head, device).value_or(0));
  }

  absl::StatusOr<MessageStatus> Status(const UserId& recipient,
                                       const MessageId& id) override {
    COURIER_RETURN_IF_ERROR(ValidateName("recipient", recipient));
    const absl::Status not_found =
        absl::NotFoundError(absl::StrCat("no message ", id, " for ", recipient));
    if (!ValidateMessageId(id).ok()) return not_found;
    const Doc filter = ReceivedFilter(id, recipient);
    std::optional<Doc> msg;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      COURIER_ASSIGN_OR_RETURN(msg, call.FindOne(kMessages, *filter.get()));
      return absl::OkStatus();
    }));
    if (!msg) return not_found;
    return static_cast<MessageStatus>(msg->Int("st"));
  }

  absl::StatusOr<std::size_t> Prune(const PruneOptions& options) override {
    std::size_t removed = 0;
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      // Everything older than the TTL.
      Doc old;
      bson_t lt;
      BSON_APPEND_DOCUMENT_BEGIN(old.get(), "t", &lt);
      BSON_APPEND_INT64(&lt, "$lt", options.now - options.ttl_ms);
      bson_append_document_end(old.get(), &lt);
      COURIER_ASSIGN_OR_RETURN(std::int64_t n, RemoveEvents(call, old));
      removed += static_cast<std::size_t>(n);
      // Per inbox with devices: acked by all of them and past retention.
      std::vector<std::pair<std::string, std::int64_t>> floors;
      Doc with_devices;
      bson_t exists;
      BSON_APPEND_DOCUMENT_BEGIN(with_devices.get(), "dev.0", &exists);
      BSON_APPEND_BOOL(&exists, "$exists", true);
      bson_append_document_end(with_devices.get(), &exists);
      COURIER_RETURN_IF_ERROR(
          call.Find(kHeads, *with_devices.get(), nullptr, [&](const Doc& raw) {
            const std::vector<std::int64_t> cursors = AllCursors(*raw.get());
            const std::int64_t floor = *std::min_element(cursors.begin(), cursors.end());
            if (floor > 0) floors.emplace_back(raw.Str("_id"), floor);
          }));
      for (const auto& [user, floor] : floors) {
        Doc f;
        AppendStr(f.get(), "u", user);
        bson_t s, t;
        BSON_APPEND_DOCUMENT_BEGIN(f.get(), "s", &s);
        BSON_APPEND_INT64(&s, "$lte", floor);
        bson_append_document_end(f.get(), &s);
        BSON_APPEND_DOCUMENT_BEGIN(f.get(), "t", &t);
        BSON_APPEND_INT64(&t, "$lt", options.now - options.acked_retention_ms);
        bson_append_document_end(f.get(), &t);
        COURIER_ASSIGN_OR_RETURN(std::int64_t m, RemoveEvents(call, f));
        removed += static_cast<std::size_t>(m);
      }
      return absl::OkStatus();
    }));
    return removed;
  }

  // With transactions, one transaction that writes the heads document
  // first: every append and receipt to the inbox writes it too, so a
  // concurrent one conflicts and one side answers kAborted. Without
  // transactions the three deletes run one after the other; a write racing
  // them may leave an event behind (the example server closes the user's
  // sessions and disables the account before it deletes the inbox).
  absl::StatusOr<std::size_t> DeleteInbox(const UserId& user) override {
    COURIER_RETURN_IF_ERROR(ValidateName("user", user));
    std::int64_t removed = 0;
    COURIER_RETURN_IF_ERROR(pool_->RunAtomic([&](MongoCall& call) -> absl::Status {
      COURIER_RETURN_IF_ERROR(call.DeleteOne(kHeads, *IdFilter(user).get()).status());
      Doc events;
      AppendStr(events.get(), "u", user);
      COURIER_ASSIGN_OR_RETURN(removed, call.DeleteMany(kEvents, *events.get()));
      Doc received;  // the status and (sender, cid) records of what it received
      AppendStr(received.get(), "r", user);
      return call.DeleteMany(kMessages, *received.get()).status();
    }));
    return static_cast<std::size_t>(removed);
  }

  absl::StatusOr<GroupRecord> Group(const GroupId& id) override {
    if (!ValidateGroupId(id).ok()) {  // names no group, as with every store
      return MakeGroupError(GroupError::kUnknownGroup, absl::StrCat("no group ", id));
    }
    absl::StatusOr<GroupRecord> record = absl::InternalError("not run");
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      record = ReadGroup(call, id);
      return absl::OkStatus();
    }));
    return record;
  }

  absl::StatusOr<std::vector<GroupRecord>> GroupsOf(const UserId& user) override {
    if (!ValidateName("user", user).ok()) return std::vector<GroupRecord>();  // in no group
    absl::StatusOr<std::vector<GroupRecord>> records = absl::InternalError("not run");
    COURIER_RETURN_IF_ERROR(pool_->WithClient([&](MongoCall& call) -> absl::Status {
      records = ReadGroupsOf(call, user);
      return absl::OkStatus();
    }));
    return records;
  }

  absl::Status Ping() override { return pool_->Ping(); }

 private:
  // Deletes the events matching `filter` and the message documents of the
  // kMessage ones among them, in chunks of kPruneChunk (each a short
  // find + two deletes, far from the socket timeout).
  static absl::StatusOr<std::int64_t> RemoveEvents(MongoCall& call, const Doc& filter) {
    constexpr std::int64_t kPruneChunk = 5'000;
    std::int64_t removed = 0;
    for (;;) {
      Doc opts, projection, event_ids, message_ids;
      BSON_APPEND_INT32(projection.get(), "m", 1);
      BSON_APPEND_INT32(projection.get(), "k", 1);
      BSON_APPEND_INT32(projection.get(), "u", 1);
      BSON_APPEND_INT32(projection.get(), "g", 1);
      BSON_APPEND_DOCUMENT(opts.get(), "projection", projection.get());
      BSON_APPEND_INT64(opts.get(), "limit", kPruneChunk);
      std::int64_t found = 0, messages = 0;
      COURIER_RETURN_IF_ERROR(call.Find(kEvents, *filter.get(), opts.get(), [&](const Doc& d) {
        bson_iter_t id;
        if (bson_iter_init_find(&id, d.get(), "_id")) {
          bson_append_iter(event_ids.get(), std::to_string(found).c_str(), -1, &id);
        }
        ++found;
        if (d.Int("k") == static_cast<std::int64_t>(EventKind::kMessage)) {
          // A group copy's document is this inbox's own (GroupCopyId).
          AppendStr(message_ids.get(), std::to_string(messages++).c_str(),
                    d.Has("g") ? GroupCopyId(d.Str("m"), d.Str("u")) : d.Str("m"));
        }
      }));
      if (found == 0) return removed;
      auto in = [](const Doc& values) {
        Doc f;
        bson_t sub;
        BSON_APPEND_DOCUMENT_BEGIN(f.get(), "_id", &sub);
        bson_append_array(&sub, "$in", -1, values.get());
        bson_append_document_end(f.get(), &sub);
        return f;
      };
      if (messages > 0) {
        COURIER_RETURN_IF_ERROR(call.DeleteMany(kMessages, *in(message_ids).get()).status());
      }
      COURIER_ASSIGN_OR_RETURN(std::int64_t n, call.DeleteMany(kEvents, *in(event_ids).get()));
      removed += n;
      if (found < kPruneChunk) return removed;
    }
  }

  // Applies one op; `out` gets the op's own result or error, the returned
  // status is a failure of the backend (the batch fails).
  absl::Status Apply(MongoCall& call, const WriteOp& op, absl::StatusOr<WriteResult>* out,
                     std::vector<Doc>* events) {
    if (const auto* a = std::get_if<AppendOp>(&op)) return ApplyAppend(call, *a, out, events);
    if (const auto* a = std::get_if<AttachOp>(&op)) return ApplyAttach(call, *a, out);
    if (const auto* a = std::get_if<AckOp>(&op)) return ApplyAck(call, *a, out, events);
    if (const auto* a = std::get_if<GroupSendOp>(&op)) {
      return ApplyGroupSend(call, *a, *out, *events);
    }
    if (const auto* a = std::get_if<GroupChangeOp>(&op)) {
      return ApplyGroupChange(call, *a, *out, *events);
    }
    return ApplyRead(call, std::get<ReadOp>(op), out, events);
  }

  // Stores the appends ops[i], i in `run` (all AppendOps, in batch order),
  // in a number of commands that depends on how many inboxes they reach,
  // not on how many they are: one find of their (sender, cid) and ids, one
  // find of the recipients' heads, one findAndModify per recipient that
  // reserves the seqs of all its appends, and one bulk write of the
  // message documents (without transactions: an unordered insert of the
  // claims, then one ordered update that gives them their seqs). The
  // events go to `events`. An op that needs a second look runs op by op
  // afterwards, so its seq may follow those of later ops of the run: its
  // (sender, cid) claimed by another server (AfterLostClaim), or repeated
  // in the run after an op that did not store it (ApplyAppend).
  absl::Status AppendRun(MongoCall& call, absl::Span<const WriteOp> ops,
                         absl::Span<const std::size_t> run,
                         std::vector<absl::StatusOr<WriteResult>>& results,
                         std::vector<Doc>* events) {
    using Key = std::pair<UserId, std::string>;  // (sender, cid)
    auto op_at = [&](std::size_t i) -> const AppendOp& { return std::get<AppendOp>(ops[i]); };
    // 1. What is already stored: the run's (sender, cid) and ids.
    std::map<Key, Doc> by_key;
    std::set<MessageId> ids_taken;
    {
      Doc filter;
      bson_t arr, clause, in, values;
      BSON_APPEND_ARRAY_BEGIN(filter.get(), "$or", &arr);
      int n = 0;
      for (std::size_t i : run) {
        const std::string key = std::to_string(n++);  // the macro reads it twice
        BSON_APPEND_DOCUMENT_BEGIN(&arr, key.c_str(), &clause);
        AppendStr(&clause, "snd", op_at(i).sender);
        AppendBin(&clause, "cid", op_at(i).cid);
        bson_append_document_end(&arr, &clause);
      }
      BSON_APPEND_DOCUMENT_BEGIN(&arr, std::to_string(n).c_str(), &clause);
      BSON_APPEND_DOCUMENT_BEGIN(&clause, "_id", &in);
      BSON_APPEND_ARRAY_BEGIN(&in, "$in", &values);
      int v = 0;
      // An id is taken by a 1:1 message, or by a group copy in the same
      // inbox (the id of a group message is used in every member's inbox).
      for (std::size_t i : run) {
        AppendStr(&values, std::to_string(v++).c_str(), op_at(i).id);
        AppendStr(&values, std::to_string(v++).c_str(),
                  GroupCopyId(op_at(i).id, op_at(i).recipient));
      }
      bson_append_array_end(&in, &values);
      bson_append_document_end(&clause, &in);
      bson_append_document_end(&arr, &clause);
      bson_append_array_end(filter.get(), &arr);
      COURIER_RETURN_IF_ERROR(call.Find(kMessages, *filter.get(), nullptr, [&](const Doc& d) {
        ids_taken.insert(MessageIdOf(d));
        by_key.emplace(Key{d.Str("snd"), d.Str("cid")}, d);
      }));
    }
    // 2. The heads and highest cursors of the recipients of what is new.
    std::map<UserId, std::int64_t> undelivered;
    for (std::size_t i : run) {
      if (!by_key.contains(Key{op_at(i).sender, op_at(i).cid})) {
        undelivered.emplace(op_at(i).recipient, 0);
      }
    }
    if (!undelivered.empty()) {
      Doc filter, opts;
      bson_t in, values, proj;
      BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "_id", &in);
      BSON_APPEND_ARRAY_BEGIN(&in, "$in", &values);
      int v = 0;
      for (const auto& [user, n] : undelivered) {
        AppendStr(&values, std::to_string(v++).c_str(), user);
      }
      bson_append_array_end(&in, &values);
      bson_append_document_end(filter.get(), &in);
      BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "projection", &proj);
      BSON_APPEND_INT32(&proj, "head", 1);
      BSON_APPEND_INT32(&proj, "maxc", 1);
      bson_append_document_end(opts.get(), &proj);
      COURIER_RETURN_IF_ERROR(call.Find(kHeads, *filter.get(), opts.get(), [&](const Doc& d) {
        undelivered[d.Str("_id")] = d.Int("head") - d.Int("maxc");
      }));
    }
    // 3. Each op in order: a duplicate, a taken id, a full queue, or fresh.
    std::map<Key, std::size_t> first_in_run;
    std::vector<std::pair<std::size_t, std::size_t>> repeats;  // (op, first op of its key)
    std::vector<std::size_t> later, fresh;
    for (std::size_t i : run) {
      const AppendOp& a = op_at(i);
      Key key{a.sender, a.cid};
      if (auto first = first_in_run.find(key); first != first_in_run.end()) {
        repeats.emplace_back(i, first->second);
        continue;
      }
      first_in_run.emplace(key, i);
      if (auto stored = by_key.find(key); stored != by_key.end()) {
        const Doc& d = stored->second;
        if (d.Int("s") == kPendingSeq) {
          later.push_back(i);  // being stored by another server
        } else {
          results[i] = AppendResult{MessageIdOf(d), static_cast<Seq>(d.Int("s")), d.Int("t"), true,
                                    {}};
        }
        continue;
      }
      if (!ids_taken.insert(a.id).second) {
        results[i] = MessageIdTakenError(a.recipient, a.id);
        continue;
      }
      std::int64_t& queued = undelivered[a.recipient];
      if (queued >= 0 && static_cast<std::uint64_t>(queued) >= a.max_undelivered) {
        results[i] = QueueFullError(a.recipient, static_cast<std::uint64_t>(queued),
                                    a.max_undelivered);
        continue;
      }
      ++queued;
      fresh.push_back(i);
    }
    // 4. Without a transaction, claim every (sender, cid) first (s = -1),
    // so that a concurrent duplicate never takes a seq: the claims another
    // server won go op by op.
    const std::int64_t claimed_at = NowMs();
    if (!call.in_transaction() && !fresh.empty()) {
      std::vector<Doc> claims;
      for (std::size_t i : fresh) {
        Doc claim = MessageDoc(op_at(i));
        BSON_APPEND_INT64(claim.get(), "s", kPendingSeq);
        BSON_APPEND_INT64(claim.get(), "pt", claimed_at);
        claims.push_back(std::move(claim));
      }
      COURIER_ASSIGN_OR_RETURN(std::vector<std::size_t> lost,
                               call.InsertEachUnlessTaken(kMessages, claims));
      std::set<std::size_t> lost_ops;
      for (std::size_t pos : lost) lost_ops.insert(fresh[pos]);
      std::erase_if(fresh, [&](std::size_t i) { return lost_ops.contains(i); });
      later.insert(later.end(), lost_ops.begin(), lost_ops.end());
    }
    // 5. One seq range per recipient.
    std::map<UserId, std::int64_t> count;
    for (std::size_t i : fresh) ++count[op_at(i).recipient];
    COURIER_ASSIGN_OR_RETURN(auto next, TakeSeqs(call, count));  // user -> first seq
    std::vector<std::int64_t> seqs;
    for (std::size_t i : fresh) seqs.push_back(next[op_at(i).recipient]++);
    // 6. The message documents, in one command.
    std::vector<bool> stored(fresh.size(), true);
    if (call.in_transaction()) {
      // A concurrent batch that stored one of these (sender, cid) makes this
      // a duplicate key, which aborts the transaction: the batch runs again
      // and step 1 finds the message.
      std::vector<Doc> docs;
      for (std::size_t k = 0; k < fresh.size(); ++k) {
        Doc msg = MessageDoc(op_at(fresh[k]));
        BSON_APPEND_INT64(msg.get(), "s", seqs[k]);
        docs.push_back(std::move(msg));
      }
      COURIER_RETURN_IF_ERROR(call.InsertMany(kMessages, docs));
    } else if (!fresh.empty()) {
      std::vector<std::pair<Doc, Doc>> updates;
      for (std::size_t k = 0; k < fresh.size(); ++k) {
        Doc mine = IdFilter(op_at(fresh[k]).id);
        BSON_APPEND_INT64(mine.get(), "pt", claimed_at);
        updates.emplace_back(std::move(mine), ClaimStored(seqs[k]));
      }
      COURIER_ASSIGN_OR_RETURN(std::int64_t matched, call.UpdateEach(kMessages, updates));
      if (matched != static_cast<std::int64_t>(fresh.size())) {
        // Some claim was taken over as stale (this server stalled for
        // kStaleClaimMs): the other server stores that message; do not
        // store it twice. Ours are those holding the seq given here.
        std::map<MessageId, std::int64_t> seq_of;
        Doc filter;
        bson_t in, values;
        BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "_id", &in);
        BSON_APPEND_ARRAY_BEGIN(&in, "$in", &values);
        for (std::size_t k = 0; k < fresh.size(); ++k) {
          AppendStr(&values, std::to_string(k).c_str(), op_at(fresh[k]).id);
        }
        bson_append_array_end(&in, &values);
        bson_append_document_end(filter.get(), &in);
        COURIER_RETURN_IF_ERROR(call.Find(kMessages, *filter.get(), nullptr, [&](const Doc& d) {
          if (!d.Has("pt")) seq_of[d.Str("_id")] = d.Int("s");
        }));
        for (std::size_t k = 0; k < fresh.size(); ++k) {
          auto found = seq_of.find(op_at(fresh[k]).id);
          if (found == seq_of.end() || found->second != seqs[k]) {
            stored[k] = false;
            results[fresh[k]] = absl::AbortedError("mongo: the claim on (sender, cid) was taken over");
          }
        }
      }
    }
    // 7. Results and events.
    for (std::size_t k = 0; k < fresh.size(); ++k) {
      if (!stored[k]) continue;
      const AppendOp& a = op_at(fresh[k]);
      Event e = MessageEventOf(a);
      e.seq = static_cast<Seq>(seqs[k]);
      events->push_back(EventDoc(a.recipient, e));
      AppendResult r{a.id, e.seq, a.ts, false, {}};
      r.appended.push_back(Appended{a.recipient, std::move(e)});
      results[fresh[k]] = std::move(r);
    }
    // 8. The ops that need a second look, in batch order, then the repeats
    // of a (sender, cid) in the run: the first op's answer as a duplicate
    // when it stored, else their own (ApplyAppend reads what is stored).
    std::sort(later.begin(), later.end());
    for (std::size_t i : later) {
      COURIER_RETURN_IF_ERROR(AfterLostClaim(call, op_at(i), &results[i], events));
    }
    for (const auto& [i, first] : repeats) {
      const auto* r = results[first].ok() ? std::get_if<AppendResult>(&*results[first]) : nullptr;
      if (r != nullptr) {
        results[i] = AppendResult{r->id, r->seq, r->ts, true, {}};
      } else {
        COURIER_RETURN_IF_ERROR(ApplyAppend(call, op_at(i), &results[i], events));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ApplyAppend(MongoCall& call, const AppendOp& a,
                           absl::StatusOr<WriteResult>* out, std::vector<Doc>* events) {
    // 1. Already sent, or the id taken? One query for both.
    {
      Doc filter, opts;
      bson_t arr, first, second;
      BSON_APPEND_ARRAY_BEGIN(filter.get(), "$or", &arr);
      BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &first);
      AppendStr(&first, "snd", a.sender);
      AppendBin(&first, "cid", a.cid);
      bson_append_document_end(&arr, &first);
      BSON_APPEND_DOCUMENT_BEGIN(&arr, "1", &second);
      bson_t in, ids;
      BSON_APPEND_DOCUMENT_BEGIN(&second, "_id", &in);
      BSON_APPEND_ARRAY_BEGIN(&in, "$in", &ids);
      AppendStr(&ids, "0", a.id);
      AppendStr(&ids, "1", GroupCopyId(a.id, a.recipient));  // see AppendRun
      bson_append_array_end(&in, &ids);
      bson_append_document_end(&second, &in);
      bson_append_document_end(&arr, &second);
      bson_append_array_end(filter.get(), &arr);
      BSON_APPEND_INT64(opts.get(), "limit", 3);
      std::optional<AppendResult> dup;
      bool id_taken = false;
      COURIER_RETURN_IF_ERROR(call.Find(kMessages, *filter.get(), opts.get(),
                                        [&](const Doc& d) {
        if (d.Str("snd") == a.sender && d.Str("cid") == a.cid) {
          dup = AppendResult{MessageIdOf(d), static_cast<Seq>(d.Int("s")), d.Int("t"), true, {}};
        } else {
          id_taken = true;
        }
      }));
      if (dup && dup->seq == static_cast<Seq>(kPendingSeq)) {
        return AfterLostClaim(call, a, out, events);  // being stored elsewhere
      }
      if (dup) {
        *out = std::move(*dup);
        return absl::OkStatus();
      }
      if (id_taken) {
        *out = MessageIdTakenError(a.recipient, a.id);
        return absl::OkStatus();
      }
    }
    // 2. Room in the recipient's queue?
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> head,
                             call.FindOne(kHeads, *IdFilter(a.recipient).get()));
    const std::int64_t undelivered = head ? head->Int("head") - head->Int("maxc") : 0;
    const std::uint64_t limit = a.max_undelivered;
    if (undelivered >= 0 && static_cast<std::uint64_t>(undelivered) >= limit) {
      *out = QueueFullError(a.recipient, static_cast<std::uint64_t>(undelivered), limit);
      return absl::OkStatus();
    }
    Doc msg = MessageDoc(a);
    std::int64_t seq = 0;
    if (call.in_transaction()) {
      // 3. The next seq of the recipient's inbox.
      COURIER_ASSIGN_OR_RETURN(seq, NextSeq(call, a.recipient));
      // 4. The message's status document. A concurrent batch that stored
      // the same (sender, cid) makes this a duplicate key, which aborts the
      // transaction: the batch runs again and step 1 finds the message.
      BSON_APPEND_INT64(msg.get(), "s", seq);
      COURIER_RETURN_IF_ERROR(call.InsertOne(kMessages, *msg.get()));
    } else {
      // Without a transaction the (sender, cid) is claimed BEFORE a seq is
      // taken, so that a concurrent duplicate never leaves a gap: the claim
      // (s = -1) is a unique-index entry that one server wins.
      const std::int64_t claimed_at = NowMs();
      Doc claim(msg);
      BSON_APPEND_INT64(claim.get(), "s", kPendingSeq);
      BSON_APPEND_INT64(claim.get(), "pt", claimed_at);
      absl::Status claimed = call.InsertOne(kMessages, *claim.get());
      if (absl::IsAlreadyExists(claimed)) return AfterLostClaim(call, a, out, events);
      COURIER_RETURN_IF_ERROR(claimed);
      COURIER_ASSIGN_OR_RETURN(seq, NextSeq(call, a.recipient));
      const Doc update = ClaimStored(seq);
      Doc mine = IdFilter(a.id);
      BSON_APPEND_INT64(mine.get(), "pt", claimed_at);
      COURIER_ASSIGN_OR_RETURN(std::int64_t n,
                               call.UpdateOne(kMessages, *mine.get(), *update.get(), false));
      if (n != 1) {
        // Taken over as stale (this server stalled for kStaleClaimMs): the
        // other server stores the message; do not store it twice.
        return absl::AbortedError("mongo: the claim on (sender, cid) was taken over");
      }
    }
    // 5. The inbox event (inserted with the batch's other events).
    Event e{static_cast<Seq>(seq), EventKind::kMessage, a.id, a.sender, a.body,
            MessageStatus::kSent, a.ts, ""};
    events->push_back(EventDoc(a.recipient, e));
    AppendResult r{a.id, static_cast<Seq>(seq), a.ts, false, {}};
    r.appended.push_back(Appended{a.recipient, std::move(e)});
    *out = std::move(r);
    return absl::OkStatus();
  }

  // Another server claimed this (sender, cid) first (no transactions): wait
  // for its seq and answer as the duplicate; take over a claim left by a
  // server that died before finishing it.
  absl::Status AfterLostClaim(MongoCall& call, const AppendOp& a,
                              absl::StatusOr<WriteResult>* out, std::vector<Doc>* events) {
    Doc filter;
    AppendStr(filter.get(), "snd", a.sender);
    AppendBin(filter.get(), "cid", a.cid);
    for (int look = 0; look < kClaimWaitLooks; ++look) {
      COURIER_ASSIGN_OR_RETURN(std::optional<Doc> first, call.FindOne(kMessages, *filter.get()));
      if (!first) {
        // No claim by (sender, cid): the unique key that failed was the id.
        COURIER_ASSIGN_OR_RETURN(std::optional<Doc> same_id,
                                 call.FindOne(kMessages, *IdFilter(a.id).get()));
        if (same_id) {
          *out = MessageIdTakenError(a.recipient, a.id);
          return absl::OkStatus();
        }
        return ApplyAppend(call, a, out, events);  // the claim was taken over: again
      }
      if (first->Int("s") >= 1) {
        *out = AppendResult{MessageIdOf(*first), static_cast<Seq>(first->Int("s")),
                            first->Int("t"), true, {}};
        return absl::OkStatus();
      }
      if (NowMs() - first->Int("pt") > kStaleClaimMs) {
        Doc stale = IdFilter(first->Str("_id"));
        BSON_APPEND_INT64(stale.get(), "s", kPendingSeq);
        BSON_APPEND_INT64(stale.get(), "pt", first->Int("pt"));
        COURIER_RETURN_IF_ERROR(call.DeleteOne(kMessages, *stale.get()).status());
        return ApplyAppend(call, a, out, events);
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    *out = absl::UnavailableError(absl::StrCat(
        "mongo: another server is still storing (", a.sender, ", ", a.cid, "); retry"));
    return absl::OkStatus();
  }

  absl::Status ApplyAttach(MongoCall& call, const AttachOp& a,
                           absl::StatusOr<WriteResult>* out) {
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> head,
                             call.FindOne(kHeads, *IdFilter(a.user).get()));
    std::optional<std::int64_t> cursor;
    if (head) cursor = DeviceCursor(*head, a.device);
    if (!cursor) {
      COURIER_RETURN_IF_ERROR(EnsureDevice(call, a.user, a.device, head.has_value()));
      COURIER_ASSIGN_OR_RETURN(head, call.FindOne(kHeads, *IdFilter(a.user).get()));
      if (!head) return absl::InternalError("mongo: inbox head vanished");
      cursor = DeviceCursor(*head, a.device).value_or(0);
    }
    *out = AttachResult{static_cast<Seq>(*cursor), static_cast<Seq>(head->Int("head"))};
    return absl::OkStatus();
  }

  // Creates the user's head document when missing and adds the device with
  // cursor 0 when missing.
  static absl::Status EnsureDevice(MongoCall& call, const UserId& user, const DeviceId& device,
                                   bool head_exists) {
    if (!head_exists) {
      COURIER_RETURN_IF_ERROR(
          call.UpdateOne(kHeads, *IdFilter(user).get(), *HeadUpsert(0).get(), true).status());
    }
    Doc filter = IdFilter(user);
    bson_t ne;
    BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "dev.d", &ne);
    AppendStr(&ne, "$ne", device);
    bson_append_document_end(filter.get(), &ne);
    Doc push;
    bson_t p, dev;
    BSON_APPEND_DOCUMENT_BEGIN(push.get(), "$push", &p);
    BSON_APPEND_DOCUMENT_BEGIN(&p, "dev", &dev);
    AppendStr(&dev, "d", device);
    BSON_APPEND_INT64(&dev, "c", 0);
    bson_append_document_end(&p, &dev);
    bson_append_document_end(push.get(), &p);
    return call.UpdateOne(kHeads, *filter.get(), *push.get(), false).status();
  }

  absl::Status ApplyAck(MongoCall& call, const AckOp& a, absl::StatusOr<WriteResult>* out,
                        std::vector<Doc>* events) {
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> head,
                             call.FindOne(kHeads, *IdFilter(a.user).get()));
    const std::int64_t head_seq = head ? head->Int("head") : 0;
    if (a.seq > static_cast<std::uint64_t>(head_seq)) {
      *out = AckBeyondHeadError(a, static_cast<Seq>(head_seq));
      return absl::OkStatus();
    }
    const auto seq = static_cast<std::int64_t>(a.seq);
    std::optional<std::int64_t> old;
    if (head) old = DeviceCursor(*head, a.device);
    if (!old) {
      COURIER_RETURN_IF_ERROR(EnsureDevice(call, a.user, a.device, head.has_value()));
      old = 0;
    }
    if (seq > *old) {
      Doc update, filters;
      bson_t max, f;
      BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$max", &max);
      BSON_APPEND_INT64(&max, "dev.$[x].c", seq);
      BSON_APPEND_INT64(&max, "maxc", seq);
      bson_append_document_end(update.get(), &max);
      BSON_APPEND_DOCUMENT_BEGIN(filters.get(), "0", &f);
      AppendStr(&f, "x.d", a.device);
      bson_append_document_end(filters.get(), &f);
      COURIER_RETURN_IF_ERROR(
          call.UpdateOne(kHeads, *IdFilter(a.user).get(), *update.get(), false, filters.get())
              .status());
    }
    AckResult result;
    result.cursor = static_cast<Seq>(std::max(*old, seq));
    // Messages now covered and still kSent become kDelivered, each with one
    // receipt.
    Doc filter, opts;
    AppendStr(filter.get(), "r", a.user);
    BSON_APPEND_INT32(filter.get(), "st", 0);
    bson_t lte, sort, proj;
    BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "s", &lte);
    BSON_APPEND_INT64(&lte, "$gte", 1);  // not a pending claim
    BSON_APPEND_INT64(&lte, "$lte", static_cast<std::int64_t>(result.cursor));
    bson_append_document_end(filter.get(), &lte);
    BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "sort", &sort);
    BSON_APPEND_INT32(&sort, "s", 1);
    bson_append_document_end(opts.get(), &sort);
    BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "projection", &proj);
    BSON_APPEND_INT32(&proj, "snd", 1);
    BSON_APPEND_INT32(&proj, "m", 1);
    bson_append_document_end(opts.get(), &proj);
    std::vector<Receipt> receipts;
    COURIER_RETURN_IF_ERROR(call.Find(kMessages, *filter.get(), opts.get(), [&](const Doc& d) {
      receipts.push_back(
          Receipt{d.Str("snd"), MessageIdOf(d), MessageStatus::kDelivered, d.Str("_id")});
    }));
    if (!receipts.empty()) {
      const Doc set = Op("$set", "st", 1);
      if (call.in_transaction()) {
        // The snapshot makes the update match exactly what was read.
        COURIER_RETURN_IF_ERROR(call.UpdateMany(kMessages, *filter.get(), *set.get()).status());
      } else {
        // Without a transaction, only the ack that moves a message wins its
        // receipt (exactly once under concurrent acks).
        std::vector<Receipt> won;
        for (Receipt& r : receipts) {
          Doc one = IdFilter(r.doc_id);
          BSON_APPEND_INT32(one.get(), "st", 0);
          COURIER_ASSIGN_OR_RETURN(std::int64_t n,
                                   call.UpdateOne(kMessages, *one.get(), *set.get(), false));
          if (n == 1) won.push_back(std::move(r));
        }
        receipts = std::move(won);
      }
    }
    COURIER_ASSIGN_OR_RETURN(result.appended,
                             AppendReceipts(call, receipts, a.user, a.ts, events));
    *out = std::move(result);
    return absl::OkStatus();
  }

  absl::Status ApplyRead(MongoCall& call, const ReadOp& a, absl::StatusOr<WriteResult>* out,
                         std::vector<Doc>* events) {
    std::vector<Receipt> receipts;
    for (const MessageId& id : a.ids) {
      if (!ValidateMessageId(id).ok()) continue;  // cannot name a message: ignored
      const Doc filter = ReceivedFilter(id, a.user);
      for (int tries = 0; tries < 5; ++tries) {
        COURIER_ASSIGN_OR_RETURN(std::optional<Doc> msg, call.FindOne(kMessages, *filter.get()));
        if (!msg || msg->Int("st") >= 2 || msg->Int("s") < 1) break;
        const std::int64_t st = msg->Int("st");
        Doc cond = IdFilter(msg->Str("_id"));
        BSON_APPEND_INT32(cond.get(), "st", static_cast<std::int32_t>(st));
        COURIER_ASSIGN_OR_RETURN(
            std::int64_t n,
            call.UpdateOne(kMessages, *cond.get(), *Op("$set", "st", 2).get(), false));
        if (n == 0) continue;  // moved by someone else meanwhile: look again
        const UserId sender = msg->Str("snd");
        if (st == 0) receipts.push_back(Receipt{sender, id, MessageStatus::kDelivered, {}});
        receipts.push_back(Receipt{sender, id, MessageStatus::kRead, {}});
        break;
      }
    }
    ReadResult result;
    COURIER_ASSIGN_OR_RETURN(result.appended, AppendReceipts(call, receipts, a.user, a.ts, events));
    *out = std::move(result);
    return absl::OkStatus();
  }

  // Reserves seqs in each sender's inbox (one $inc per sender) and queues
  // the receipt events, in the order given.
  static absl::StatusOr<std::vector<Appended>> AppendReceipts(MongoCall& call,
                                                              const std::vector<Receipt>& receipts,
                                                              const UserId& by, TimeMs ts,
                                                              std::vector<Doc>* events) {
    std::vector<Appended> appended;
    if (receipts.empty()) return appended;
    std::map<UserId, std::int64_t> count;
    for (const Receipt& r : receipts) ++count[r.sender];
    COURIER_ASSIGN_OR_RETURN(auto next, TakeSeqs(call, count));  // user -> first seq
    for (const Receipt& r : receipts) {
      Event e = ReceiptEventOf(r.id, by, r.status, ts);
      e.seq = static_cast<Seq>(next[r.sender]++);
      events->push_back(EventDoc(r.sender, e));
      appended.push_back(Appended{r.sender, std::move(e)});
    }
    return appended;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<MessageStore>> OpenMessageStore(const MongoOptions& options) {
  return OpenStore<MessageStore, MongoMessageStore>(options);
}

}  // namespace courier::mongo
