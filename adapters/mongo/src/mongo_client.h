// The client pool of courier::mongo and the handful of driver calls the
// stores make, each returning a status from MongoStatus().
//
// Internal to courier::mongo (not installed).
// Thread-safety: MongoPool is safe for concurrent use; a MongoCall belongs
//   to one thread (it holds one pooled client).
// Blocking: every call blocks until the server answers or a driver timeout
//   (server selection, socket) passes.
#ifndef COURIER_ADAPTERS_MONGO_MONGO_CLIENT_H_
#define COURIER_ADAPTERS_MONGO_MONGO_CLIENT_H_

#include <mongoc/mongoc.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "courier/mongo.h"
#include "courier/status.h"

namespace courier::mongo {

// An owned BSON document.
class Doc {
 public:
  Doc() { bson_init(&b_); }
  explicit Doc(const bson_t* from) { bson_copy_to(from, &b_); }
  Doc(const Doc& o) { bson_copy_to(&o.b_, &b_); }
  Doc& operator=(const Doc& o) {
    if (this != &o) {
      bson_destroy(&b_);
      bson_copy_to(&o.b_, &b_);
    }
    return *this;
  }
  ~Doc() { bson_destroy(&b_); }
  bson_t* get() { return &b_; }
  const bson_t* get() const { return &b_; }

  // Field readers with a default for a missing field.
  std::int64_t Int(const char* key, std::int64_t fallback = 0) const;
  std::string Str(const char* key) const;    // UTF-8 or binary
  bool Has(const char* key) const;

 private:
  bson_t b_;
};

// BSON builders that take byte strings with their length.
void AppendStr(bson_t* b, const char* key, absl::string_view v);
void AppendBin(bson_t* b, const char* key, absl::string_view v);
// Appends the document `key` to `b`, its fields written by `fill(bson_t*)`.
template <typename Fill>
void AppendDoc(bson_t* b, const char* key, Fill fill) {
  bson_t child;
  bson_append_document_begin(b, key, -1, &child);
  fill(&child);
  bson_append_document_end(b, &child);
}

// Returns "{prefix}/{suffix}": the _id of a pair document (names never
// contain '/').
std::string PairId(absl::string_view a, absl::string_view b);

class MongoPool;

// One pooled client, and optionally a transaction on it. Collections are
// fetched once per call.
class MongoCall {
 public:
  MongoCall(const MongoPool& pool, mongoc_client_t* client);
  MongoCall(const MongoCall&) = delete;
  MongoCall& operator=(const MongoCall&) = delete;
  ~MongoCall();

  mongoc_client_t* client() const { return client_; }
  // Operations after this run inside `session`'s transaction (null: none).
  void set_session(mongoc_client_session_t* session) { session_ = session; }
  bool in_transaction() const { return session_ != nullptr; }

  // Documents matching `filter` with `opts` (sort, limit, projection).
  absl::Status Find(const char* coll, const bson_t& filter, const bson_t* opts,
                    const std::function<void(const Doc&)>& each);
  absl::StatusOr<std::optional<Doc>> FindOne(const char* coll, const bson_t& filter,
                                             const bson_t* projection = nullptr);
  // findAndModify returning the new document (upserting when asked).
  absl::StatusOr<std::optional<Doc>> FindAndModify(const char* coll, const bson_t& query,
                                                   const bson_t& update, bool upsert);
  // Returns the modified count (or, with `upsert`, modified + upserted).
  absl::StatusOr<std::int64_t> UpdateOne(const char* coll, const bson_t& filter,
                                         const bson_t& update, bool upsert,
                                         const bson_t* array_filters = nullptr);
  absl::StatusOr<std::int64_t> UpdateMany(const char* coll, const bson_t& filter,
                                          const bson_t& update);
  // kAlreadyExists on a duplicate key.
  absl::Status InsertOne(const char* coll, const bson_t& doc);
  absl::Status InsertMany(const char* coll, const std::vector<Doc>& docs);
  // One unordered insert command for all of `docs`: every document that
  // does not hit a unique index is stored; returns the positions in `docs`
  // of those that hit one (a duplicate key). Any other error: its status.
  absl::StatusOr<std::vector<std::size_t>> InsertEachUnlessTaken(const char* coll,
                                                                 const std::vector<Doc>& docs);
  // One ordered update command with one statement per (filter, update)
  // pair (no upsert); returns how many documents the statements matched.
  absl::StatusOr<std::int64_t> UpdateEach(const char* coll,
                                          const std::vector<std::pair<Doc, Doc>>& updates);
  absl::StatusOr<std::int64_t> DeleteMany(const char* coll, const bson_t& filter);
  absl::StatusOr<std::int64_t> DeleteOne(const char* coll, const bson_t& filter);

 private:
  mongoc_collection_t* Coll(const char* name);
  // What a driver write fills in (the reply is destroyed by the caller).
  struct WriteReply {
    bson_t reply;
    bson_error_t error;
  };
  // One driver update or delete: `write(opts, out)` with `opts` plus the
  // base options; returns the reply's `count` (plus `also_count` when not
  // null), or the error, as "<what>: ...".
  absl::StatusOr<std::int64_t> CountingWrite(
      Doc opts, const std::string& what, const char* count, const char* also_count,
      absl::FunctionRef<bool(const Doc&, WriteReply&)> write);
  // `opts` plus the session (and maxTimeMS for reads outside transactions).
  absl::Status BaseOpts(bson_t* opts, bool read);
  struct BulkDeleter {
    void operator()(mongoc_bulk_operation_t* b) const { mongoc_bulk_operation_destroy(b); }
  };
  using Bulk = std::unique_ptr<mongoc_bulk_operation_t, BulkDeleter>;
  // A bulk write on `coll` (ordered or not) with the base options.
  absl::StatusOr<Bulk> StartBulk(const char* coll, bool ordered);

  const MongoPool& pool_;
  mongoc_client_t* client_;
  mongoc_client_session_t* session_ = nullptr;
  std::map<std::string, mongoc_collection_t*> colls_;
};

class MongoPool {
 public:
  // Connects (selects a writable server), decides on transactions, and
  // creates `indexes`: collection -> list of {keys, unique} index specs.
  struct Index {
    const char* collection;
    const char* name;
    Doc keys;
    bool unique;
  };
  static absl::StatusOr<std::unique_ptr<MongoPool>> Open(const MongoOptions& options,
                                                         const std::vector<Index>& indexes);
  MongoPool(const MongoPool&) = delete;
  MongoPool& operator=(const MongoPool&) = delete;
  ~MongoPool();

  const MongoOptions& options() const { return options_; }
  bool transactions() const { return transactions_; }

  // Runs `fn` with one pooled client (kUnavailable when none frees up in
  // time).
  absl::Status WithClient(const std::function<absl::Status(MongoCall&)>& fn) const;

  // Runs `fn` once, atomically: in a transaction when the deployment has
  // them, else directly. In a transaction a conflict with a concurrent one
  // (a write conflict, a duplicate key racing in) rolls it back and
  // answers kAborted, which the caller's caller retries (a Write batch:
  // the engine's commit queue, WriteRetryingConflicts); an unknown commit
  // result is committed again, up to three times.
  absl::Status RunAtomic(const std::function<absl::Status(MongoCall&)>& fn) const;

  // A writable server is selectable and answers ping.
  absl::Status Ping() const;

 private:
  explicit MongoPool(MongoOptions options) : options_(std::move(options)) {}
  absl::Status Init(const std::vector<Index>& indexes);

  const MongoOptions options_;
  mongoc_uri_t* uri_ = nullptr;
  mongoc_client_pool_t* pool_ = nullptr;
  mongoc_transaction_opt_t* txn_opts_ = nullptr;
  bool transactions_ = false;
};

// kInvalidArgument naming the first bad field.
absl::Status ValidateOptions(const MongoOptions& options);

// What each store of the adapter holds: the pool its calls run on.
class PooledStore {
 public:
  explicit PooledStore(std::unique_ptr<MongoPool> pool) : pool_(std::move(pool)) {}

 protected:
  const std::unique_ptr<MongoPool> pool_;
};

// The factories' common steps: opens a pool (which creates the store's
// indexes, Store::Indexes()) and builds a `Store` on it.
template <typename Interface, typename Store>
absl::StatusOr<std::unique_ptr<Interface>> OpenStore(const MongoOptions& options) {
  COURIER_ASSIGN_OR_RETURN(std::unique_ptr<MongoPool> pool,
                           MongoPool::Open(options, Store::Indexes()));
  return std::unique_ptr<Interface>(std::make_unique<Store>(std::move(pool)));
}

}  // namespace courier::mongo

#endif  // COURIER_ADAPTERS_MONGO_MONGO_CLIENT_H_
