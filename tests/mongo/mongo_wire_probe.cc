// courier_mongo_wire_probe: performs ONE courier::mongo store call given on
// the command line and prints its result, for the wire tests
// (mongo_wire_test.py drives it against a MockupDB server).
//
//   courier_mongo_wire_probe [--socket-timeout-ms N] [--server-selection-timeout-ms N]
//                            [--w W] URI OP ARGS...
//   OP: open | append SENDER CID RECIPIENT ID BODY TS MAX | attach USER DEVICE
//       | ack USER DEVICE SEQ TS | read USER TS ID... | fetch USER AFTER LIMIT
//       | head USER | status RECIPIENT ID | ping
//       | tokens USER | bump USER | revoke USER TOKEN_ID | setpw USER HASH
//         (these four on the AccountStore, opened instead of the MessageStore)
//
// Prints "OK <op> key=value..." lines ("EVENT ..." for each fetched event)
// or "ERROR <CODE>: <message>" and exits 0 (ok), 1 (the call failed) or 2
// (bad usage or the store did not open).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "courier/mongo.h"

namespace {

int Fail(const absl::Status& s, int code) {
  std::printf("ERROR %s: %s\n", absl::StatusCodeToString(s.code()).c_str(),
              std::string(s.message()).c_str());
  return code;
}

int Usage() {
  std::fprintf(stderr, "usage: courier_mongo_wire_probe [flags] URI OP ARGS... (see source)\n");
  return 2;
}

std::int64_t Num(const std::string& s) { return std::strtoll(s.c_str(), nullptr, 10); }

// Prints "OK <op>" when `s` is OK.
int PrintOk(const absl::Status& s, const char* op) {
  if (!s.ok()) return Fail(s, 1);
  std::printf("OK %s\n", op);
  return 0;
}

// Prints "OK <op> <key>=<value>" when `value` is OK.
template <class T>
int PrintValue(const absl::StatusOr<T>& value, const char* op, const char* key) {
  if (!value.ok()) return Fail(value.status(), 1);
  std::printf("OK %s %s=%llu\n", op, key, static_cast<unsigned long long>(*value));
  return 0;
}

void PrintAppended(const std::vector<courier::Appended>& appended) {
  for (const auto& a : appended) {
    std::printf("APPENDED user=%s seq=%llu kind=%d id=%s peer=%s status=%d\n", a.user.c_str(),
                static_cast<unsigned long long>(a.event.seq), static_cast<int>(a.event.kind),
                a.event.id.c_str(), a.event.peer.c_str(), static_cast<int>(a.event.status));
  }
}

int WriteOne(courier::MessageStore& store, courier::WriteOp op) {
  auto results = store.Write(absl::MakeConstSpan(&op, 1));
  if (results.size() != 1) return Fail(absl::InternalError("not one result"), 1);
  if (!results[0].ok()) return Fail(results[0].status(), 1);
  const courier::WriteResult& r = *results[0];
  if (const auto* a = std::get_if<courier::AppendResult>(&r)) {
    std::printf("OK append id=%s seq=%llu ts=%lld duplicate=%d\n", a->id.c_str(),
                static_cast<unsigned long long>(a->seq), static_cast<long long>(a->ts),
                a->duplicate ? 1 : 0);
    PrintAppended(a->appended);
  } else if (const auto* a = std::get_if<courier::AttachResult>(&r)) {
    std::printf("OK attach cursor=%llu head=%llu\n", static_cast<unsigned long long>(a->cursor),
                static_cast<unsigned long long>(a->head));
  } else if (const auto* a = std::get_if<courier::AckResult>(&r)) {
    std::printf("OK ack cursor=%llu\n", static_cast<unsigned long long>(a->cursor));
    PrintAppended(a->appended);
  } else {
    std::printf("OK read\n");
    PrintAppended(std::get<courier::ReadResult>(r).appended);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  courier::mongo::MongoOptions options;
  options.server_selection_timeout_ms = 10'000;
  options.transactions = courier::mongo::MongoTransactions::kAuto;
  std::size_t i = 0;
  for (; i + 1 < args.size() && args[i].rfind("--", 0) == 0; i += 2) {
    if (args[i] == "--socket-timeout-ms") {
      options.socket_timeout_ms = Num(args[i + 1]);
    } else if (args[i] == "--server-selection-timeout-ms") {
      options.server_selection_timeout_ms = Num(args[i + 1]);
    } else if (args[i] == "--w") {
      options.write_concern_w = args[i + 1];
    } else {
      return Usage();
    }
  }
  if (args.size() < i + 2) return Usage();
  options.uri = args[i];
  const std::string op = args[i + 1];
  const std::vector<std::string> a(args.begin() + static_cast<long>(i) + 2, args.end());

  if (op == "tokens" || op == "bump" || op == "revoke" || op == "setpw") {
    auto accounts = courier::mongo::OpenAccountStore(options);
    if (!accounts.ok()) return Fail(accounts.status(), 2);
    courier::AccountStore& store = **accounts;
    if (op == "tokens" && a.size() == 1) {
      auto state = store.GetTokenState(a[0]);
      if (!state.ok()) return Fail(state.status(), 1);
      std::string ids;
      for (const auto& id : state->revoked) ids += (ids.empty() ? "" : ",") + id;
      std::printf("OK tokens generation=%llu revoked=%s\n",
                  static_cast<unsigned long long>(state->generation), ids.c_str());
      return 0;
    }
    if (op == "bump" && a.size() == 1) {
      return PrintValue(store.BumpTokenGeneration(a[0]), "bump", "generation");
    }
    if (op == "revoke" && a.size() == 2) return PrintOk(store.RevokeToken(a[0], a[1]), "revoke");
    if (op == "setpw" && a.size() == 2) return PrintOk(store.SetPasswordHash(a[0], a[1]), "setpw");
    return Usage();
  }

  auto opened = courier::mongo::OpenMessageStore(options);
  if (!opened.ok()) return Fail(opened.status(), 2);
  courier::MessageStore& store = **opened;

  if (op == "open" && a.empty()) {
    std::printf("OK open\n");
    return 0;
  }
  if (op == "append" && a.size() == 7) {
    courier::AppendOp w;
    w.sender = a[0];
    w.cid = a[1];
    w.recipient = a[2];
    w.id = a[3];
    w.body = a[4];
    w.ts = Num(a[5]);
    w.max_undelivered = static_cast<std::uint64_t>(Num(a[6]));
    return WriteOne(store, w);
  }
  if (op == "attach" && a.size() == 2) return WriteOne(store, courier::AttachOp{a[0], a[1]});
  if (op == "ack" && a.size() == 4) {
    return WriteOne(store, courier::AckOp{a[0], a[1], static_cast<courier::Seq>(Num(a[2])),
                                          Num(a[3])});
  }
  if (op == "read" && a.size() >= 2) {
    return WriteOne(store, courier::ReadOp{a[0], std::vector<std::string>(a.begin() + 2, a.end()),
                                           Num(a[1])});
  }
  if (op == "fetch" && a.size() == 3) {
    auto events = store.Fetch(a[0], static_cast<courier::Seq>(Num(a[1])),
                              static_cast<std::size_t>(Num(a[2])));
    if (!events.ok()) return Fail(events.status(), 1);
    std::printf("OK fetch count=%zu\n", events->size());
    for (const auto& e : *events) {
      std::printf("EVENT seq=%llu kind=%d id=%s peer=%s body=%s status=%d ts=%lld\n",
                  static_cast<unsigned long long>(e.seq), static_cast<int>(e.kind), e.id.c_str(),
                  e.peer.c_str(), e.body.c_str(), static_cast<int>(e.status),
                  static_cast<long long>(e.ts));
    }
    return 0;
  }
  if (op == "head" && a.size() == 1) return PrintValue(store.Head(a[0]), "head", "head");
  if (op == "status" && a.size() == 2) {
    return PrintValue(store.Status(a[0], a[1]), "status", "status");
  }
  if (op == "ping" && a.empty()) return PrintOk(store.Ping(), "ping");
  return Usage();
}
