// The inbox documents of courier::mongo's MessageStore (courier/mongo.h
// lists the collections), shared by the 1:1 write path
// (mongo_message_store.cc) and the group ops (mongo_groups.h).
//
// Internal to courier::mongo (not installed).
// Thread-safety: pure functions, except NextSeq and TakeSeqs, which use
//   the caller's MongoCall (one thread).
// Blocking: NextSeq and TakeSeqs make findAndModify calls; nothing else
//   blocks.
#ifndef COURIER_ADAPTERS_MONGO_MONGO_INBOX_H_
#define COURIER_ADAPTERS_MONGO_MONGO_INBOX_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "courier/types.h"
#include "mongo_client.h"

namespace courier::mongo {

inline constexpr char kEvents[] = "inbox_events";
inline constexpr char kHeads[] = "inbox_heads";
inline constexpr char kMessages[] = "messages";

// Without transactions: the seq of a message whose (sender, cid) is claimed
// but not stored yet, and when a claim counts as left behind by a dead
// server.
inline constexpr std::int64_t kPendingSeq = -1;
inline constexpr std::int64_t kStaleClaimMs = 30'000;

std::int64_t NowMs();

// {u, s, k, m, p, b, st, t} and, for a group's events, g.
Doc EventDoc(const UserId& user, const Event& e);

// {_id: id}.
Doc IdFilter(absl::string_view id);

// {$set: {s: seq}, $unset: {pt: ""}}: a claim becomes the stored message.
Doc ClaimStored(std::int64_t seq);

// {$setOnInsert: {maxc: 0, dev: []}} plus `inc` on head.
Doc HeadUpsert(std::int64_t inc);

// Takes the next seq of `user`'s inbox (creating its head document).
absl::StatusOr<std::int64_t> NextSeq(MongoCall& call, const UserId& user);
// Takes the next `n` seqs of each inbox of `counts` (user -> n) with one
// findAndModify per inbox; returns user -> the first of its seqs.
absl::StatusOr<std::map<UserId, std::int64_t>> TakeSeqs(
    MongoCall& call, const std::map<UserId, std::int64_t>& counts);

// A message document's _id: a 1:1 message is keyed by its id; a group
// copy, which shares its id with the other members' copies, by
// "<id>/<recipient>" ('/' is in no message id), and keeps the id in "m".
std::string GroupCopyId(absl::string_view id, absl::string_view recipient);
// The message id of a message document (either kind).
std::string MessageIdOf(const Doc& message);

}  // namespace courier::mongo

#endif  // COURIER_ADAPTERS_MONGO_MONGO_INBOX_H_
