#include "mongo_client.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "courier/log.h"
#include "courier/status.h"
#include "mongo_error.h"

namespace courier::mongo {
namespace {

// Driver log lines of level WARNING and above go to the host's log sink
// (courier/log.h) as component "mongoc"; the rest (the driver's default
// handler prints them to stdout) are dropped.
void QuietLog(mongoc_log_level_t level, const char* domain, const char* message, void*) {
  if (level <= MONGOC_LOG_LEVEL_WARNING) {
    Log(level == MONGOC_LOG_LEVEL_WARNING ? LogLevel::kWarning : LogLevel::kError, "mongoc",
        absl::StrCat(domain != nullptr ? domain : "", ": ", message != nullptr ? message : ""));
  }
}

void InitDriverOnce() {
  static std::once_flag once;
  // mongoc_cleanup is never called: other code in the process may use the
  // driver too, and the OS frees everything at exit.
  std::call_once(once, [] {
    mongoc_init();
    mongoc_log_set_handler(&QuietLog, nullptr);
  });
}

std::int32_t Clamp32(std::int64_t v) {
  return static_cast<std::int32_t>(
      std::clamp<std::int64_t>(v, 0, std::numeric_limits<std::int32_t>::max()));
}

std::int64_t ReplyInt(const bson_t& reply, const char* key) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, &reply, key) && BSON_ITER_HOLDS_NUMBER(&it)) {
    return bson_iter_as_int64(&it);
  }
  return 0;
}

}  // namespace

std::int64_t Doc::Int(const char* key, std::int64_t fallback) const {
  bson_iter_t it;
  if (bson_iter_init_find(&it, &b_, key) && BSON_ITER_HOLDS_NUMBER(&it)) {
    return bson_iter_as_int64(&it);
  }
  return fallback;
}

std::string Doc::Str(const char* key) const {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, &b_, key)) return "";
  if (BSON_ITER_HOLDS_UTF8(&it)) {
    std::uint32_t len = 0;
    const char* s = bson_iter_utf8(&it, &len);
    return std::string(s, len);
  }
  if (BSON_ITER_HOLDS_BINARY(&it)) {
    bson_subtype_t subtype;
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_binary(&it, &subtype, &len, &data);
    return std::string(reinterpret_cast<const char*>(data), len);
  }
  return "";
}

bool Doc::Has(const char* key) const {
  bson_iter_t it;
  return bson_iter_init_find(&it, &b_, key);
}

void AppendStr(bson_t* b, const char* key, absl::string_view v) {
  bson_append_utf8(b, key, -1, v.data(), static_cast<int>(v.size()));
}

void AppendBin(bson_t* b, const char* key, absl::string_view v) {
  bson_append_binary(b, key, -1, BSON_SUBTYPE_BINARY,
                     reinterpret_cast<const std::uint8_t*>(v.data()),
                     static_cast<std::uint32_t>(v.size()));
}

std::string PairId(absl::string_view a, absl::string_view b) { return absl::StrCat(a, "/", b); }

// --- MongoCall

MongoCall::MongoCall(const MongoPool& pool, mongoc_client_t* client)
    : pool_(pool), client_(client) {}

MongoCall::~MongoCall() {
  for (auto& [name, coll] : colls_) mongoc_collection_destroy(coll);
}

mongoc_collection_t* MongoCall::Coll(const char* name) {
  auto it = colls_.find(name);
  if (it != colls_.end()) return it->second;
  mongoc_collection_t* c =
      mongoc_client_get_collection(client_, pool_.options().database.c_str(), name);
  colls_.emplace(name, c);
  return c;
}

absl::Status MongoCall::BaseOpts(bson_t* opts, bool read) {
  if (session_ != nullptr) {
    bson_error_t err;
    if (!mongoc_client_session_append(session_, opts, &err)) {
      return MongoStatus("session", err);
    }
  } else if (read && pool_.options().max_time_ms > 0) {
    BSON_APPEND_INT64(opts, "maxTimeMS", pool_.options().max_time_ms);
  }
  return absl::OkStatus();
}

absl::Status MongoCall::Find(const char* coll, const bson_t& filter, const bson_t* extra,
                             const std::function<void(const Doc&)>& each) {
  Doc opts;
  if (extra != nullptr) bson_concat(opts.get(), extra);
  COURIER_RETURN_IF_ERROR(BaseOpts(opts.get(), /*read=*/true));
  mongoc_cursor_t* cursor =
      mongoc_collection_find_with_opts(Coll(coll), &filter, opts.get(), nullptr);
  const bson_t* doc = nullptr;
  while (mongoc_cursor_next(cursor, &doc)) each(Doc(doc));
  bson_error_t err;
  const bson_t* reply = nullptr;
  absl::Status s;
  if (mongoc_cursor_error_document(cursor, &err, &reply)) {
    s = MongoStatus(absl::StrCat("find in ", coll), err, reply);
  }
  mongoc_cursor_destroy(cursor);
  return s;
}

absl::StatusOr<std::optional<Doc>> MongoCall::FindOne(const char* coll, const bson_t& filter,
                                                      const bson_t* projection) {
  Doc opts;
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  if (projection != nullptr) BSON_APPEND_DOCUMENT(opts.get(), "projection", projection);
  std::optional<Doc> found;
  COURIER_RETURN_IF_ERROR(Find(coll, filter, opts.get(), [&](const Doc& d) {
    if (!found) found.emplace(d);
  }));
  return found;
}

absl::StatusOr<std::optional<Doc>> MongoCall::FindAndModify(const char* coll,
                                                            const bson_t& query,
                                                            const bson_t& update,
                                                            bool upsert) {
  mongoc_find_and_modify_opts_t* fam = mongoc_find_and_modify_opts_new();
  mongoc_find_and_modify_opts_set_update(fam, &update);
  mongoc_find_and_modify_opts_set_flags(
      fam, static_cast<mongoc_find_and_modify_flags_t>(
               MONGOC_FIND_AND_MODIFY_RETURN_NEW | (upsert ? MONGOC_FIND_AND_MODIFY_UPSERT : 0)));
  Doc extra;
  absl::Status s = BaseOpts(extra.get(), /*read=*/false);
  if (s.ok()) mongoc_find_and_modify_opts_append(fam, extra.get());
  std::optional<Doc> value;
  if (s.ok()) {
    bson_t reply;
    bson_error_t err;
    if (!mongoc_collection_find_and_modify_with_opts(Coll(coll), &query, fam, &reply, &err)) {
      s = MongoStatus(absl::StrCat("findAndModify in ", coll), err, &reply);
    } else {
      bson_iter_t it;
      if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        std::uint32_t len = 0;
        const std::uint8_t* data = nullptr;
        bson_iter_document(&it, &len, &data);
        bson_t inner;
        if (bson_init_static(&inner, data, len)) value.emplace(&inner);
      }
    }
    bson_destroy(&reply);
  }
  mongoc_find_and_modify_opts_destroy(fam);
  if (!s.ok()) return s;
  return value;
}

absl::StatusOr<std::int64_t> MongoCall::UpdateOne(const char* coll, const bson_t& filter,
                                                  const bson_t& update, bool upsert,
                                                  const bson_t* array_filters) {
  Doc opts;
  if (upsert) BSON_APPEND_BOOL(opts.get(), "upsert", true);
  if (array_filters != nullptr) BSON_APPEND_ARRAY(opts.get(), "arrayFilters", array_filters);
  return CountingWrite(
      std::move(opts), absl::StrCat("update in ", coll), "modifiedCount", "upsertedCount",
      [&](const Doc& o, WriteReply& w) {
        return mongoc_collection_update_one(Coll(coll), &filter, &update, o.get(), &w.reply,
                                            &w.error);
      });
}

absl::StatusOr<std::int64_t> MongoCall::UpdateMany(const char* coll, const bson_t& filter,
                                                   const bson_t& update) {
  return CountingWrite(Doc(), absl::StrCat("update in ", coll), "modifiedCount", nullptr,
                       [&](const Doc& o, WriteReply& w) {
                         return mongoc_collection_update_many(Coll(coll), &filter, &update,
                                                              o.get(), &w.reply, &w.error);
                       });
}

absl::Status MongoCall::InsertOne(const char* coll, const bson_t& doc) {
  Doc opts;
  COURIER_RETURN_IF_ERROR(BaseOpts(opts.get(), /*read=*/false));
  bson_t reply;
  bson_error_t err;
  absl::Status s;
  if (!mongoc_collection_insert_one(Coll(coll), &doc, opts.get(), &reply, &err)) {
    s = MongoStatus(absl::StrCat("insert into ", coll), err, &reply);
  }
  bson_destroy(&reply);
  return s;
}

absl::Status MongoCall::InsertMany(const char* coll, const std::vector<Doc>& docs) {
  if (docs.empty()) return absl::OkStatus();
  Doc opts;
  BSON_APPEND_BOOL(opts.get(), "ordered", true);
  COURIER_RETURN_IF_ERROR(BaseOpts(opts.get(), /*read=*/false));
  // A plain array: bson_t's alignment attribute does not survive templates.
  auto** ptrs = static_cast<const bson_t**>(bson_malloc(docs.size() * sizeof(bson_t*)));
  for (std::size_t i = 0; i < docs.size(); ++i) ptrs[i] = docs[i].get();
  bson_t reply;
  bson_error_t err;
  absl::Status s;
  if (!mongoc_collection_insert_many(Coll(coll), ptrs, docs.size(), opts.get(), &reply, &err)) {
    s = MongoStatus(absl::StrCat("insert into ", coll), err, &reply);
  }
  bson_destroy(&reply);
  bson_free(ptrs);
  return s;
}

absl::StatusOr<MongoCall::Bulk> MongoCall::StartBulk(const char* coll, bool ordered) {
  Doc opts;
  BSON_APPEND_BOOL(opts.get(), "ordered", ordered);
  COURIER_RETURN_IF_ERROR(BaseOpts(opts.get(), /*read=*/false));
  return Bulk(mongoc_collection_create_bulk_operation_with_opts(Coll(coll), opts.get()));
}

absl::StatusOr<std::vector<std::size_t>> MongoCall::InsertEachUnlessTaken(
    const char* coll, const std::vector<Doc>& docs) {
  std::vector<std::size_t> taken;
  if (docs.empty()) return taken;
  COURIER_ASSIGN_OR_RETURN(Bulk bulk, StartBulk(coll, /*ordered=*/false));
  bson_error_t err;
  absl::Status s;
  for (const Doc& d : docs) {
    if (!mongoc_bulk_operation_insert_with_opts(bulk.get(), d.get(), nullptr, &err)) {
      s = MongoStatus(absl::StrCat("insert into ", coll), err);
      break;
    }
  }
  bson_t reply;
  if (s.ok() && mongoc_bulk_operation_execute(bulk.get(), &reply, &err) == 0) {
    // Only duplicate keys are expected: each names its document's position.
    bson_iter_t it, errors;
    bool only_duplicates = bson_iter_init_find(&it, &reply, "writeErrors") &&
                           BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &errors);
    while (only_duplicates && bson_iter_next(&errors)) {
      bson_iter_t e;
      std::int64_t index = -1, code = 0;
      if (BSON_ITER_HOLDS_DOCUMENT(&errors) && bson_iter_recurse(&errors, &e)) {
        while (bson_iter_next(&e)) {
          if (strcmp(bson_iter_key(&e), "index") == 0) index = bson_iter_as_int64(&e);
          if (strcmp(bson_iter_key(&e), "code") == 0) code = bson_iter_as_int64(&e);
        }
      }
      if (index < 0 || static_cast<std::size_t>(index) >= docs.size() ||
          !IsDuplicateKeyCode(code)) {
        only_duplicates = false;
      } else {
        taken.push_back(static_cast<std::size_t>(index));
      }
    }
    if (!only_duplicates || taken.empty()) {
      s = MongoStatus(absl::StrCat("insert into ", coll), err, &reply);
    }
    bson_destroy(&reply);
  } else if (s.ok()) {
    bson_destroy(&reply);
  }
  if (!s.ok()) return s;
  return taken;
}

absl::StatusOr<std::int64_t> MongoCall::UpdateEach(
    const char* coll, const std::vector<std::pair<Doc, Doc>>& updates) {
  if (updates.empty()) return 0;
  COURIER_ASSIGN_OR_RETURN(Bulk bulk, StartBulk(coll, /*ordered=*/true));
  bson_error_t err;
  absl::StatusOr<std::int64_t> out = absl::InternalError("mongo: bulk update not run");
  bool queued = true;
  for (const auto& [filter, update] : updates) {
    if (!mongoc_bulk_operation_update_one_with_opts(bulk.get(), filter.get(), update.get(), nullptr,
                                                    &err)) {
      out = MongoStatus(absl::StrCat("update in ", coll), err);
      queued = false;
      break;
    }
  }
  if (queued) {
    bson_t reply;
    if (mongoc_bulk_operation_execute(bulk.get(), &reply, &err) == 0) {
      out = MongoStatus(absl::StrCat("update in ", coll), err, &reply);
    } else {
      out = ReplyInt(reply, "nMatched");
    }
    bson_destroy(&reply);
  }
  return out;
}

absl::StatusOr<std::int64_t> MongoCall::DeleteMany(const char* coll, const bson_t& filter) {
  return CountingWrite(Doc(), absl::StrCat("delete from ", coll), "deletedCount", nullptr,
                       [&](const Doc& o, WriteReply& w) {
                         return mongoc_collection_delete_many(Coll(coll), &filter, o.get(),
                                                              &w.reply, &w.error);
                       });
}

absl::StatusOr<std::int64_t> MongoCall::DeleteOne(const char* coll, const bson_t& filter) {
  return CountingWrite(Doc(), absl::StrCat("delete from ", coll), "deletedCount", nullptr,
                       [&](const Doc& o, WriteReply& w) {
                         return mongoc_collection_delete_one(Coll(coll), &filter, o.get(),
                                                             &w.reply, &w.error);
                       });
}

absl::StatusOr<std::int64_t> MongoCall::CountingWrite(
    Doc opts, const std::string& what, const char* count, const char* also_count,
    absl::FunctionRef<bool(const Doc&, WriteReply&)> write) {
  COURIER_RETURN_IF_ERROR(BaseOpts(opts.get(), /*read=*/false));
  WriteReply w;
  absl::StatusOr<std::int64_t> out;
  if (!write(opts, w)) {
    out = MongoStatus(what, w.error, &w.reply);
  } else {
    out = ReplyInt(w.reply, count) + (also_count != nullptr ? ReplyInt(w.reply, also_count) : 0);
  }
  bson_destroy(&w.reply);
  return out;
}

// --- MongoPool

absl::Status ValidateOptions(const MongoOptions& o) {
  if (o.uri.empty()) return absl::InvalidArgumentError("mongo: uri is empty");
  const std::string& db = o.database;
  const bool db_ok = !db.empty() && db.size() <= 63 &&
                     std::all_of(db.begin(), db.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '_' || c == '-';
                     });
  if (!db_ok) return absl::InvalidArgumentError("mongo: database must be 1-63 of [A-Za-z0-9_-]");
  if (o.write_concern_w != "majority") {
    int n = 0;
    for (char c : o.write_concern_w) {
      if (c < '0' || c > '9' || n > 1000) {
        return absl::InvalidArgumentError("mongo: write_concern_w is \"majority\" or a number");
      }
      n = n * 10 + (c - '0');
    }
    if (o.write_concern_w.empty() || n < 1) {
      return absl::InvalidArgumentError("mongo: write_concern_w must be at least 1");
    }
  }
  if (o.server_selection_timeout_ms < 1 || o.connect_timeout_ms < 1 || o.socket_timeout_ms < 1 ||
      o.pool_wait_timeout_ms < 1 || o.write_concern_timeout_ms < 0 || o.max_time_ms < 0) {
    return absl::InvalidArgumentError("mongo: timeouts must be positive");
  }
  if (o.pool_size < 1 || o.pool_size > 1000) {
    return absl::InvalidArgumentError("mongo: pool_size must be 1-1000");
  }
  if (o.max_batch_attempts < 1) {
    return absl::InvalidArgumentError("mongo: max_batch_attempts must be at least 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MongoPool>> MongoPool::Open(const MongoOptions& options,
                                                           const std::vector<Index>& indexes) {
  COURIER_RETURN_IF_ERROR(ValidateOptions(options));
  InitDriverOnce();
  std::unique_ptr<MongoPool> pool(new MongoPool(options));
  COURIER_RETURN_IF_ERROR(pool->Init(indexes));
  return pool;
}

absl::Status MongoPool::Init(const std::vector<Index>& indexes) {
  bson_error_t err;
  uri_ = mongoc_uri_new_with_error(options_.uri.c_str(), &err);
  if (uri_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("mongo: bad uri: ", err.message));
  }
  mongoc_uri_set_option_as_int32(uri_, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                 Clamp32(options_.server_selection_timeout_ms));
  mongoc_uri_set_option_as_int32(uri_, MONGOC_URI_CONNECTTIMEOUTMS,
                                 Clamp32(options_.connect_timeout_ms));
  mongoc_uri_set_option_as_int32(uri_, MONGOC_URI_SOCKETTIMEOUTMS,
                                 Clamp32(options_.socket_timeout_ms));
  mongoc_uri_set_option_as_int32(uri_, MONGOC_URI_WAITQUEUETIMEOUTMS,
                                 Clamp32(options_.pool_wait_timeout_ms));
  if (mongoc_uri_get_appname(uri_) == nullptr) mongoc_uri_set_appname(uri_, "courier");

  mongoc_write_concern_t* wc = mongoc_write_concern_new();
  if (options_.write_concern_w == "majority") {
    mongoc_write_concern_set_wmajority(wc, Clamp32(options_.write_concern_timeout_ms));
  } else {
    mongoc_write_concern_set_w(wc, std::stoi(options_.write_concern_w));
    mongoc_write_concern_set_wtimeout_int64(wc, options_.write_concern_timeout_ms);
  }
  mongoc_write_concern_set_journal(wc, options_.journal);
  mongoc_uri_set_write_concern(uri_, wc);

  txn_opts_ = mongoc_transaction_opts_new();
  mongoc_transaction_opts_set_write_concern(txn_opts_, wc);
  mongoc_read_concern_t* rc = mongoc_read_concern_new();
  mongoc_read_concern_set_level(rc, MONGOC_READ_CONCERN_LEVEL_SNAPSHOT);
  mongoc_transaction_opts_set_read_concern(txn_opts_, rc);
  mongoc_read_concern_destroy(rc);
  mongoc_transaction_opts_set_max_commit_time_ms(txn_opts_, options_.socket_timeout_ms);
  mongoc_write_concern_destroy(wc);

  pool_ = mongoc_client_pool_new_with_error(uri_, &err);
  if (pool_ == nullptr) return MongoStatus("client pool", err);
  mongoc_client_pool_set_error_api(pool_, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_max_size(pool_, static_cast<std::uint32_t>(options_.pool_size));

  return WithClient([&](MongoCall& call) -> absl::Status {
    bson_error_t e;
    mongoc_server_description_t* sd =
        mongoc_client_select_server(call.client(), /*for_writes=*/true, nullptr, &e);
    if (sd == nullptr) return MongoStatus("select server", e);
    const std::string type = mongoc_server_description_type(sd);
    mongoc_server_description_destroy(sd);
    const bool can = type == "RSPrimary" || type == "Mongos" || type == "LoadBalancer";
    switch (options_.transactions) {
      case MongoTransactions::kAuto: transactions_ = can; break;
      case MongoTransactions::kOff: transactions_ = false; break;
      case MongoTransactions::kRequired:
        if (!can) {
          return absl::FailedPreconditionError(absl::StrCat(
              "mongo: transactions are required but the server is a ", type,
              " (run a replica set)"));
        }
        transactions_ = true;
        break;
    }
    // createIndexes, one command per collection (existing indexes stay).
    std::map<std::string, std::vector<const Index*>> by_coll;
    for (const Index& i : indexes) by_coll[i.collection].push_back(&i);
    mongoc_database_t* db = mongoc_client_get_database(call.client(), options_.database.c_str());
    absl::Status status;
    for (const auto& [coll, list] : by_coll) {
      Doc cmd;
      AppendStr(cmd.get(), "createIndexes", coll);
      bson_t arr;
      BSON_APPEND_ARRAY_BEGIN(cmd.get(), "indexes", &arr);
      for (std::size_t k = 0; k < list.size(); ++k) {
        bson_t spec;
        const std::string key = std::to_string(k);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, key.c_str(), &spec);
        BSON_APPEND_DOCUMENT(&spec, "key", list[k]->keys.get());
        BSON_APPEND_UTF8(&spec, "name", list[k]->name);
        if (list[k]->unique) BSON_APPEND_BOOL(&spec, "unique", true);
        bson_append_document_end(&arr, &spec);
      }
      bson_append_array_end(cmd.get(), &arr);
      bson_t reply;
      if (!mongoc_database_write_command_with_opts(db, cmd.get(), nullptr, &reply, &e)) {
        status = MongoStatus(absl::StrCat("create indexes on ", coll), e, &reply);
      }
      bson_destroy(&reply);
      if (!status.ok()) break;
    }
    mongoc_database_destroy(db);
    return status;
  });
}

MongoPool::~MongoPool() {
  if (pool_ != nullptr) mongoc_client_pool_destroy(pool_);
  if (txn_opts_ != nullptr) mongoc_transaction_opts_destroy(txn_opts_);
  if (uri_ != nullptr) mongoc_uri_destroy(uri_);
}

absl::Status MongoPool::WithClient(const std::function<absl::Status(MongoCall&)>& fn) const {
  mongoc_client_t* client = mongoc_client_pool_pop(pool_);
  if (client == nullptr) {
    return absl::UnavailableError(absl::StrCat("mongo: no free client within ",
                                               options_.pool_wait_timeout_ms, " ms (pool size ",
                                               options_.pool_size, ")"));
  }
  absl::Status s;
  {
    MongoCall call(*this, client);
    s = fn(call);
  }
  mongoc_client_pool_push(pool_, client);
  return s;
}

absl::Status MongoPool::RunAtomic(const std::function<absl::Status(MongoCall&)>& fn) const {
  if (!transactions_) return WithClient(fn);
  return WithClient([&](MongoCall& call) -> absl::Status {
    bson_error_t err;
    mongoc_client_session_t* session = mongoc_client_start_session(call.client(), nullptr, &err);
    if (session == nullptr) return MongoStatus("start session", err);
    absl::Status s;
    if (!mongoc_client_session_start_transaction(session, txn_opts_, &err)) {
      s = MongoStatus("start transaction", err);
    } else {
      call.set_session(session);
      s = fn(call);
      call.set_session(nullptr);
      if (s.ok()) {
        // The commit alone is retried when its result is unknown (the
        // driver's label): it is idempotent, the transaction is not.
        for (int tries = 0; tries < 3; ++tries) {
          bson_t reply;
          const bool ok = mongoc_client_session_commit_transaction(session, &reply, &err);
          const bool unknown =
              !ok && mongoc_error_has_label(&reply, "UnknownTransactionCommitResult");
          s = ok ? absl::OkStatus() : MongoStatus("commit", err, &reply);
          bson_destroy(&reply);
          if (!unknown) break;
        }
      } else if (mongoc_client_session_in_transaction(session)) {
        mongoc_client_session_abort_transaction(session, nullptr);
      }
    }
    mongoc_client_session_destroy(session);
    // A duplicate key in a transaction is a concurrent writer's key racing
    // in (a (sender, cid), a group id): a conflict, as a write conflict is.
    if (absl::IsAlreadyExists(s)) return absl::AbortedError(s.message());
    return s;
  });
}

absl::Status MongoPool::Ping() const {
  return WithClient([&](MongoCall& call) -> absl::Status {
    bson_error_t err;
    mongoc_server_description_t* sd =
        mongoc_client_select_server(call.client(), /*for_writes=*/true, nullptr, &err);
    if (sd == nullptr) return MongoStatus("select server", err);
    mongoc_server_description_destroy(sd);
    Doc cmd;
    BSON_APPEND_INT32(cmd.get(), "ping", 1);
    bson_t reply;
    absl::Status s;
    if (!mongoc_client_command_simple(call.client(), "admin", cmd.get(), nullptr, &reply, &err)) {
      s = MongoStatus("ping", err, &reply);
    }
    bson_destroy(&reply);
    return s;
  });
}

}  // namespace courier::mongo
