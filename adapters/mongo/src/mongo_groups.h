// Groups in the MongoDB MessageStore: GroupChangeOp and GroupSendOp inside
// a Write batch, and the two group reads.
//
// Collections (courier/mongo.h): `groups` holds one document per group,
// {_id: group id, rec: EncodeGroupRecord's bytes, v: version};
// `group_members` one per membership, {_id: "<user>/<group>", u, g}, with
// an index on u (GroupsOf, and the groups-per-user count PlanGroupChange
// asks for). A group send stores one message document per recipient under
// GroupCopyId(id, recipient) (mongo_inbox.h) with the id in "m" and the
// group in "g"; only the sender's own copy holds the real cid, the others
// a cid no client can send ("\0" + their _id: client ids hold no NUL), so
// the (snd, cid) unique index stays as it is and pruning another member's
// copy keeps the sender's (sender, cid) record.
//
// The rules are core's (courier/group.h): these functions read, call
// PlanGroupChange / GroupSendRecipients, and write what they say.
//
// Atomicity follows the store's: in a transaction (replica set) the batch
// is one snapshot and a concurrent change of the same group is a write
// conflict, answered kAborted; the record is also written by
// compare-and-set on its version, so a lost race is kAborted too. The
// commit queue writes a kAborted batch again (WriteRetryingConflicts). Without transactions (standalone) a change or a send of an
// existing group first takes a lease on the group's document ({lk, lt}:
// one server at a time, expiring after 10 s if its holder died), held until
// its seqs are taken, so that servers still apply one group's ops one at a
// time; a change writes the record by compare-and-set (re-read and
// re-planned if it lost), then its index rows and events; a send claims
// its (sender, cid) before it takes seqs, as a 1:1 append does.
//
// Internal to courier::mongo (not installed).
// Thread-safety: the functions use the caller's MongoCall (one thread).
// Blocking: several commands on `call`; a group send or change costs a few
//   commands plus one findAndModify per inbox it appends to.
#ifndef COURIER_ADAPTERS_MONGO_MONGO_GROUPS_H_
#define COURIER_ADAPTERS_MONGO_MONGO_GROUPS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "courier/message_store.h"
#include "mongo_client.h"

namespace courier::mongo {

inline constexpr char kGroups[] = "groups";
inline constexpr char kGroupMembers[] = "group_members";

// Apply one valid op (REQUIRES: ValidateWriteOp(op) is OK). The op's own
// result or refusal goes to `out`, its events (EventDoc) to `events`, which
// the caller inserts with the batch's; the returned status is a backend
// failure or a conflict, which fails (or, in a transaction, retries) the
// batch.
absl::Status ApplyGroupChange(MongoCall& call, const GroupChangeOp& op,
                              absl::StatusOr<WriteResult>& out, std::vector<Doc>& events);
absl::Status ApplyGroupSend(MongoCall& call, const GroupSendOp& op,
                            absl::StatusOr<WriteResult>& out, std::vector<Doc>& events);

// MessageStore::Group and GroupsOf.
absl::StatusOr<GroupRecord> ReadGroup(MongoCall& call, const GroupId& id);
absl::StatusOr<std::vector<GroupRecord>> ReadGroupsOf(MongoCall& call, const UserId& user);

}  // namespace courier::mongo

#endif  // COURIER_ADAPTERS_MONGO_MONGO_GROUPS_H_
