#include "mongo_groups.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "courier/status.h"
#include "mongo_inbox.h"

namespace courier::mongo {
namespace {

// Standalone: how often a change whose compare-and-set lost to another
// server reads and plans again before it gives up (kAborted, retryable).
constexpr int kChangeAttempts = 16;

// Standalone: a lease on the group's document ({lk: token, lt: taken at}),
// held by an op from its read of the group until its seqs are taken, so
// that servers apply one group's changes and sends one at a time (in a
// transaction their write conflicts on the inbox heads do this). A lease
// left by a server that died expires after kLeaseMs; a server waits for a
// held one about kLeaseLooks x 2 ms, then the op fails kUnavailable.
constexpr std::int64_t kLeaseMs = 10'000;
constexpr int kLeaseLooks = 1'000;

// Takes the lease of `group`; returns its token, or 0 when none is needed
// (in a transaction, or no such group: a create inserts, a send fails).
absl::StatusOr<std::int64_t> TakeLease(MongoCall& call, const GroupId& group) {
  if (call.in_transaction()) return 0;
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::int64_t token = 0;
  while (token == 0) token = static_cast<std::int64_t>(random() >> 1);
  for (int look = 0; look < kLeaseLooks; ++look) {
    const std::int64_t now = NowMs();
    Doc free = IdFilter(group);
    bson_t any, none, old, exists, lt;
    BSON_APPEND_ARRAY_BEGIN(free.get(), "$or", &any);
    BSON_APPEND_DOCUMENT_BEGIN(&any, "0", &none);
    BSON_APPEND_DOCUMENT_BEGIN(&none, "lt", &exists);
    BSON_APPEND_BOOL(&exists, "$exists", false);
    bson_append_document_end(&none, &exists);
    bson_append_document_end(&any, &none);
    BSON_APPEND_DOCUMENT_BEGIN(&any, "1", &old);
    BSON_APPEND_DOCUMENT_BEGIN(&old, "lt", &lt);
    BSON_APPEND_INT64(&lt, "$lt", now - kLeaseMs);
    bson_append_document_end(&old, &lt);
    bson_append_document_end(&any, &old);
    bson_append_array_end(free.get(), &any);
    Doc take, set;
    BSON_APPEND_INT64(set.get(), "lk", token);
    BSON_APPEND_INT64(set.get(), "lt", now);
    BSON_APPEND_DOCUMENT(take.get(), "$set", set.get());
    COURIER_ASSIGN_OR_RETURN(std::int64_t n,
                             call.UpdateOne(kGroups, *free.get(), *take.get(), false));
    if (n == 1) return token;
    COURIER_ASSIGN_OR_RETURN(std::optional<Doc> doc,
                             call.FindOne(kGroups, *IdFilter(group).get()));
    if (!doc) return 0;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return absl::UnavailableError(
      absl::StrCat("mongo: group ", group, " is busy on another server; retry"));
}

// Gives the lease back (best effort: a lease not given back expires).
void ReleaseLease(MongoCall& call, const GroupId& group, std::int64_t token) {
  if (token == 0) return;
  Doc mine = IdFilter(group);
  BSON_APPEND_INT64(mine.get(), "lk", token);
  Doc drop;
  bson_t unset;
  BSON_APPEND_DOCUMENT_BEGIN(drop.get(), "$unset", &unset);
  BSON_APPEND_UTF8(&unset, "lk", "");
  BSON_APPEND_UTF8(&unset, "lt", "");
  bson_append_document_end(drop.get(), &unset);
  call.UpdateOne(kGroups, *mine.get(), *drop.get(), false).status().IgnoreError();
}

// {<field>: {$in: values}}.
Doc InFilter(const char* field, const std::vector<std::string>& values) {
  Doc f;
  bson_t in, arr;
  BSON_APPEND_DOCUMENT_BEGIN(f.get(), field, &in);
  BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
  for (std::size_t i = 0; i < values.size(); ++i) {
    AppendStr(&arr, std::to_string(i).c_str(), values[i]);
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(f.get(), &in);
  return f;
}

Doc Projection(std::initializer_list<const char*> fields) {
  Doc opts;
  bson_t proj;
  BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "projection", &proj);
  for (const char* f : fields) BSON_APPEND_INT32(&proj, f, 1);
  bson_append_document_end(opts.get(), &proj);
  return opts;
}

// The stored record of `id`: nullopt when there is none; kDataLoss when its
// bytes do not decode. `version` gets the document's compare-and-set version.
absl::StatusOr<std::optional<GroupRecord>> LoadGroup(MongoCall& call, const GroupId& id,
                                                     std::int64_t* version = nullptr) {
  COURIER_ASSIGN_OR_RETURN(std::optional<Doc> doc, call.FindOne(kGroups, *IdFilter(id).get()));
  if (!doc) return std::nullopt;
  if (version != nullptr) *version = doc->Int("v");
  COURIER_ASSIGN_OR_RETURN(GroupRecord record, DecodeGroupRecord(doc->Str("rec")));
  return record;
}

// {rec, v} of `record`, with its _id when `with_id`.
Doc GroupDoc(const GroupRecord& record, bool with_id) {
  Doc d = with_id ? IdFilter(record.id) : Doc();
  AppendBin(d.get(), "rec", EncodeGroupRecord(record));
  BSON_APPEND_INT64(d.get(), "v", static_cast<std::int64_t>(record.version));
  return d;
}

// Writes the record a plan produced over the one read at `version`
// (`existed`): insert, compare-and-set, or delete. False when another
// writer got there first (a duplicate create is false too).
absl::StatusOr<bool> StoreRecord(MongoCall& call, const GroupId& id, bool existed,
                                 std::int64_t version, const std::optional<GroupRecord>& after) {
  if (!existed) {
    absl::Status s = call.InsertOne(kGroups, *GroupDoc(*after, true).get());
    if (absl::IsAlreadyExists(s) && !call.in_transaction()) return false;
    COURIER_RETURN_IF_ERROR(s);
    return true;
  }
  Doc same = IdFilter(id);
  BSON_APPEND_INT64(same.get(), "v", version);
  if (!after) {
    COURIER_ASSIGN_OR_RETURN(std::int64_t n, call.DeleteOne(kGroups, *same.get()));
    return n == 1;
  }
  Doc set;
  BSON_APPEND_DOCUMENT(set.get(), "$set", GroupDoc(*after, false).get());
  COURIER_ASSIGN_OR_RETURN(std::int64_t n, call.UpdateOne(kGroups, *same.get(), *set.get(), false));
  return n == 1;
}

// The (user, group) index rows of a change.
absl::Status StoreIndex(MongoCall& call, const GroupId& group, const GroupChangePlan& plan) {
  if (!plan.joined.empty()) {
    std::vector<Doc> rows;
    for (const UserId& u : plan.joined) {
      Doc row = IdFilter(PairId(u, group));
      AppendStr(row.get(), "u", u);
      AppendStr(row.get(), "g", group);
      rows.push_back(std::move(row));
    }
    if (call.in_transaction()) {
      COURIER_RETURN_IF_ERROR(call.InsertMany(kGroupMembers, rows));
    } else {
      // A row left by a change that stopped halfway is already there.
      COURIER_RETURN_IF_ERROR(call.InsertEachUnlessTaken(kGroupMembers, rows).status());
    }
  }
  if (!plan.left.empty()) {
    Doc gone = InFilter("u", plan.left);
    AppendStr(gone.get(), "g", group);
    COURIER_RETURN_IF_ERROR(call.DeleteMany(kGroupMembers, *gone.get()).status());
  }
  return absl::OkStatus();
}

// The answer to a send whose (sender, cid) is stored already.
absl::StatusOr<WriteResult> Duplicate(const Doc& first, const GroupSendOp& op) {
  if (first.Int("s") < 1) {
    return absl::UnavailableError(absl::StrCat(
        "mongo: another server is still storing (", op.sender, ", ", op.cid, "); retry"));
  }
  GroupSendResult dup;
  dup.id = MessageIdOf(first);
  dup.seq = static_cast<Seq>(first.Int("s"));
  dup.ts = first.Int("t");
  dup.duplicate = true;
  return dup;
}

// The message document of `recipient`'s copy (without its seq "s").
Doc CopyDoc(const GroupSendOp& op, const UserId& recipient) {
  const std::string id = GroupCopyId(op.id, recipient);
  const bool own = recipient == op.sender;
  Doc d = IdFilter(id);
  AppendStr(d.get(), "m", op.id);
  AppendStr(d.get(), "g", op.group);
  AppendStr(d.get(), "r", recipient);
  AppendStr(d.get(), "snd", op.sender);
  AppendBin(d.get(), "cid", own ? op.cid : absl::StrCat(std::string(1, '\0'), id));
  BSON_APPEND_INT64(d.get(), "t", op.ts);
  BSON_APPEND_INT32(d.get(), "st", static_cast<std::int32_t>(own ? MessageStatus::kRead
                                                                 : MessageStatus::kSent));
  return d;
}

absl::Status ChangeLeased(MongoCall& call, const GroupChangeOp& op,
                          absl::StatusOr<WriteResult>& out, std::vector<Doc>& events) {
  const std::vector<UserId> joining = UsersWhoMayJoin(op);
  for (int attempt = 1;; ++attempt) {
    // 1. The record, and the groups of the users the change may add.
    std::int64_t version = 0;
    absl::StatusOr<std::optional<GroupRecord>> before = LoadGroup(call, op.group, &version);
    if (!before.ok()) {
      if (absl::IsDataLoss(before.status())) {
        out = before.status();
        return absl::OkStatus();
      }
      return before.status();
    }
    std::map<UserId, std::size_t> counts;
    if (!joining.empty()) {
      COURIER_RETURN_IF_ERROR(call.Find(kGroupMembers, *InFilter("u", joining).get(),
                                        Projection({"u"}).get(),
                                        [&](const Doc& row) { ++counts[row.Str("u")]; }));
    }
    // 2. The plan; for a change, the record by compare-and-set, then the
    // index and the events.
    bool lost = false;  // the compare-and-set lost to another writer
    absl::Status s = PlanAndWriteGroupChange(
        *before, op,
        [&](const UserId& user) -> absl::StatusOr<std::size_t> { return counts[user]; },
        [&](const GroupChangePlan& plan) -> absl::StatusOr<std::vector<Appended>> {
          COURIER_ASSIGN_OR_RETURN(
              bool won, StoreRecord(call, op.group, before->has_value(), version, plan.after));
          if (!won) {
            lost = true;
            return absl::AbortedError(
                absl::StrCat("mongo: group ", op.group, " changed concurrently"));
          }
          COURIER_RETURN_IF_ERROR(StoreIndex(call, op.group, plan));
          std::vector<Appended> appended;
          for (const UserId& user : plan.told) {
            COURIER_ASSIGN_OR_RETURN(std::int64_t seq, NextSeq(call, user));
            Event e = plan.event;
            e.seq = static_cast<Seq>(seq);
            events.push_back(EventDoc(user, e));
            appended.push_back(Appended{user, std::move(e)});
          }
          return appended;
        },
        out);
    // Standalone: read the new record and plan again.
    if (lost && !call.in_transaction() && attempt < kChangeAttempts) continue;
    return s;
  }
}

// {snd, cid}: the (sender, cid) index shared with AppendOp.
Doc SentFilter(const GroupSendOp& op) {
  Doc sent;
  AppendStr(sent.get(), "snd", op.sender);
  AppendBin(sent.get(), "cid", op.cid);
  return sent;
}

// A send not sent before (ApplyGroupSend looked), under the group's lease.
absl::Status SendLeased(MongoCall& call, const GroupSendOp& op,
                        absl::StatusOr<WriteResult>& out, std::vector<Doc>& events) {
  // 2. Who gets it.
  absl::StatusOr<std::optional<GroupRecord>> group = LoadGroup(call, op.group);
  if (!group.ok()) {
    if (!absl::IsDataLoss(group.status())) return group.status();
    out = group.status();
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<UserId>> recipients = GroupSendRecipients(*group, op.sender);
  if (!recipients.ok()) {
    out = recipients.status();
    return absl::OkStatus();
  }
  // 3. Room in each inbox (the sender's is never refused), and the id
  // unused in all of them.
  std::map<UserId, std::int64_t> undelivered;
  COURIER_RETURN_IF_ERROR(call.Find(kHeads, *InFilter("_id", *recipients).get(),
                                    Projection({"head", "maxc"}).get(), [&](const Doc& d) {
                                      undelivered[d.Str("_id")] = d.Int("head") - d.Int("maxc");
                                    }));
  std::vector<std::string> copy_ids;
  for (const UserId& u : *recipients) copy_ids.push_back(GroupCopyId(op.id, u));
  std::optional<UserId> taken;
  COURIER_RETURN_IF_ERROR(call.Find(kMessages, *InFilter("_id", copy_ids).get(),
                                    Projection({"r"}).get(),
                                    [&](const Doc& d) { taken = d.Str("r"); }));
  if (taken) {
    out = MessageIdTakenError(*taken, op.id);
    return absl::OkStatus();
  }
  GroupSendResult result;
  result.id = op.id;
  result.ts = op.ts;
  std::vector<UserId> getting;
  for (const UserId& u : *recipients) {
    const std::int64_t queued = undelivered[u];
    if (u != op.sender && queued >= 0 &&
        static_cast<std::uint64_t>(queued) >= op.max_undelivered) {
      result.skipped.push_back(u);
    } else {
      getting.push_back(u);
    }
  }
  // 4. Without a transaction the sender's copy claims the (sender, cid)
  // before any seq is taken, as a 1:1 append does.
  std::int64_t claimed_at = 0;
  if (!call.in_transaction()) {
    claimed_at = NowMs();
    Doc claim = CopyDoc(op, op.sender);
    BSON_APPEND_INT64(claim.get(), "s", kPendingSeq);
    BSON_APPEND_INT64(claim.get(), "pt", claimed_at);
    absl::Status claimed = call.InsertOne(kMessages, *claim.get());
    if (absl::IsAlreadyExists(claimed)) {  // another server claimed it since step 1
      COURIER_ASSIGN_OR_RETURN(std::optional<Doc> first,
                               call.FindOne(kMessages, *SentFilter(op).get()));
      out = first ? Duplicate(*first, op)
                  : absl::StatusOr<WriteResult>(MessageIdTakenError(op.sender, op.id));
      return absl::OkStatus();
    }
    COURIER_RETURN_IF_ERROR(claimed);
  }
  // 5. A seq in each inbox, the message documents, the events.
  const Event proto = MessageEventOf(op);
  std::vector<Doc> copies;
  for (const UserId& u : getting) {
    COURIER_ASSIGN_OR_RETURN(std::int64_t seq, NextSeq(call, u));
    if (u == op.sender) result.seq = static_cast<Seq>(seq);
    if (u != op.sender || call.in_transaction()) {
      Doc copy = CopyDoc(op, u);
      BSON_APPEND_INT64(copy.get(), "s", seq);
      copies.push_back(std::move(copy));
    }
    Event e = proto;
    e.seq = static_cast<Seq>(seq);
    events.push_back(EventDoc(u, e));
    result.appended.push_back(Appended{u, std::move(e)});
  }
  if (!call.in_transaction()) {
    Doc mine = IdFilter(GroupCopyId(op.id, op.sender));
    BSON_APPEND_INT64(mine.get(), "pt", claimed_at);
    COURIER_ASSIGN_OR_RETURN(
        std::int64_t n, call.UpdateOne(kMessages, *mine.get(),
                                       *ClaimStored(static_cast<std::int64_t>(result.seq)).get(),
                                       false));
    if (n != 1) return absl::AbortedError("mongo: the claim on (sender, cid) was taken over");
  }
  COURIER_RETURN_IF_ERROR(call.InsertMany(kMessages, copies));
  result.recipients = result.appended.size();
  out = std::move(result);
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyGroupChange(MongoCall& call, const GroupChangeOp& op,
                              absl::StatusOr<WriteResult>& out, std::vector<Doc>& events) {
  // A create needs no lease: the insert of the record is unique.
  std::int64_t lease = 0;
  if (op.action != GroupAction::kCreate) {
    COURIER_ASSIGN_OR_RETURN(lease, TakeLease(call, op.group));
  }
  absl::Status s = ChangeLeased(call, op, out, events);
  ReleaseLease(call, op.group, lease);
  return s;
}

absl::Status ApplyGroupSend(MongoCall& call, const GroupSendOp& op,
                            absl::StatusOr<WriteResult>& out, std::vector<Doc>& events) {
  // 1. Sent before? Then no lease is needed.
  COURIER_ASSIGN_OR_RETURN(std::optional<Doc> first,
                           call.FindOne(kMessages, *SentFilter(op).get()));
  if (first) {
    out = Duplicate(*first, op);
    return absl::OkStatus();
  }
  COURIER_ASSIGN_OR_RETURN(std::int64_t lease, TakeLease(call, op.group));
  absl::Status s = SendLeased(call, op, out, events);
  ReleaseLease(call, op.group, lease);
  return s;
}

absl::StatusOr<GroupRecord> ReadGroup(MongoCall& call, const GroupId& id) {
  COURIER_ASSIGN_OR_RETURN(std::optional<GroupRecord> record, LoadGroup(call, id));
  if (!record) return MakeGroupError(GroupError::kUnknownGroup, absl::StrCat("no group ", id));
  return *std::move(record);
}

absl::StatusOr<std::vector<GroupRecord>> ReadGroupsOf(MongoCall& call, const UserId& user) {
  Doc mine;
  AppendStr(mine.get(), "u", user);
  std::vector<std::string> ids;
  COURIER_RETURN_IF_ERROR(call.Find(kGroupMembers, *mine.get(), Projection({"g"}).get(),
                                    [&](const Doc& row) { ids.push_back(row.Str("g")); }));
  std::vector<GroupRecord> records;
  if (ids.empty()) return records;
  absl::Status bad;
  COURIER_RETURN_IF_ERROR(call.Find(kGroups, *InFilter("_id", ids).get(), nullptr,
                                    [&](const Doc& d) {
                                      auto record = DecodeGroupRecord(d.Str("rec"));
                                      if (!record.ok()) {
                                        bad.Update(record.status());
                                      } else {
                                        records.push_back(*std::move(record));
                                      }
                                    }));
  COURIER_RETURN_IF_ERROR(bad);
  std::sort(records.begin(), records.end(),
            [](const GroupRecord& a, const GroupRecord& b) { return a.id < b.id; });
  return records;
}

}  // namespace courier::mongo
