#include "mongo_inbox.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "courier/status.h"

namespace courier::mongo {

std::int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

Doc EventDoc(const UserId& user, const Event& e) {
  Doc d;
  AppendStr(d.get(), "u", user);
  BSON_APPEND_INT64(d.get(), "s", static_cast<std::int64_t>(e.seq));
  BSON_APPEND_INT32(d.get(), "k", static_cast<std::int32_t>(e.kind));
  AppendStr(d.get(), "m", e.id);
  AppendStr(d.get(), "p", e.peer);
  AppendBin(d.get(), "b", e.body);
  BSON_APPEND_INT32(d.get(), "st", static_cast<std::int32_t>(e.status));
  BSON_APPEND_INT64(d.get(), "t", e.ts);
  if (!e.group.empty()) AppendStr(d.get(), "g", e.group);
  return d;
}

Doc IdFilter(absl::string_view id) {
  Doc d;
  AppendStr(d.get(), "_id", id);
  return d;
}

Doc ClaimStored(std::int64_t seq) {
  Doc d;
  bson_t set, unset;
  BSON_APPEND_DOCUMENT_BEGIN(d.get(), "$set", &set);
  BSON_APPEND_INT64(&set, "s", seq);
  bson_append_document_end(d.get(), &set);
  BSON_APPEND_DOCUMENT_BEGIN(d.get(), "$unset", &unset);
  BSON_APPEND_UTF8(&unset, "pt", "");
  bson_append_document_end(d.get(), &unset);
  return d;
}

Doc HeadUpsert(std::int64_t inc) {
  Doc d;
  bson_t sub;
  if (inc != 0) {
    BSON_APPEND_DOCUMENT_BEGIN(d.get(), "$inc", &sub);
    BSON_APPEND_INT64(&sub, "head", inc);
    bson_append_document_end(d.get(), &sub);
  }
  BSON_APPEND_DOCUMENT_BEGIN(d.get(), "$setOnInsert", &sub);
  if (inc == 0) BSON_APPEND_INT64(&sub, "head", 0);
  BSON_APPEND_INT64(&sub, "maxc", 0);
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(&sub, "dev", &arr);
  bson_append_array_end(&sub, &arr);
  bson_append_document_end(d.get(), &sub);
  return d;
}

namespace {
// Takes the next `n` seqs of `user`'s inbox; returns the first.
absl::StatusOr<std::int64_t> TakeSeqs(MongoCall& call, const UserId& user, std::int64_t n) {
  COURIER_ASSIGN_OR_RETURN(
      std::optional<Doc> counter,
      call.FindAndModify(kHeads, *IdFilter(user).get(), *HeadUpsert(n).get(), true));
  if (!counter) return absl::InternalError("mongo: findAndModify upsert returned nothing");
  return counter->Int("head") - n + 1;
}
}  // namespace

absl::StatusOr<std::int64_t> NextSeq(MongoCall& call, const UserId& user) {
  return TakeSeqs(call, user, 1);
}

absl::StatusOr<std::map<UserId, std::int64_t>> TakeSeqs(
    MongoCall& call, const std::map<UserId, std::int64_t>& counts) {
  std::map<UserId, std::int64_t> first;
  for (const auto& [user, n] : counts) {
    COURIER_ASSIGN_OR_RETURN(first[user], TakeSeqs(call, user, n));
  }
  return first;
}

std::string GroupCopyId(absl::string_view id, absl::string_view recipient) {
  return absl::StrCat(id, "/", recipient);
}

std::string MessageIdOf(const Doc& message) {
  return message.Has("m") ? message.Str("m") : message.Str("_id");
}

}  // namespace courier::mongo
