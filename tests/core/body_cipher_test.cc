#include "courier/body_cipher.h"

#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "courier/memory.h"
#include "support/status_matchers.h"

namespace courier {
namespace {

using testing::StatusIs;

TEST_CASE("BodyCipher: seals and opens, wrong key, tampering and moved bodies fail",
          "[cipher]") {
  auto cipher = BodyCipher::Create(std::string(32, 'a'));
  COURIER_REQUIRE_OK(cipher);
  const std::string sealed = cipher->Seal("hello", "ad1");
  CHECK(sealed.size() == 24 + 5 + 16);
  CHECK(sealed.find("hello") == std::string::npos);
  CHECK(cipher->Open(sealed, "ad1").value() == "hello");
  CHECK_THAT(cipher->Open(sealed, "ad2").status(), StatusIs(absl::StatusCode::kDataLoss));
  std::string tampered = sealed;
  tampered[30] ^= 1;
  CHECK_THAT(cipher->Open(tampered, "ad1").status(), StatusIs(absl::StatusCode::kDataLoss));
  CHECK_THAT(cipher->Open("short", "ad1").status(), StatusIs(absl::StatusCode::kDataLoss));
  auto other = BodyCipher::Create(std::string(32, 'b'));
  CHECK_THAT(other->Open(sealed, "ad1").status(), StatusIs(absl::StatusCode::kDataLoss));
  CHECK(cipher->Seal("hello", "ad1") != sealed);  // random nonces
}

TEST_CASE("BodyCipher: nonces never repeat, within a thread or across threads", "[cipher]") {
  auto cipher = BodyCipher::Create(std::string(32, 'a'));
  COURIER_REQUIRE_OK(cipher);
  constexpr int kPerThread = 2'000;
  std::vector<std::vector<std::string>> nonces(4);
  std::vector<std::thread> threads;
  for (auto& out : nonces) {
    threads.emplace_back([&cipher, &out] {
      for (int i = 0; i < kPerThread; ++i) out.push_back(cipher->Seal("x", "ad").substr(0, 24));
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& per_thread : nonces) all.insert(per_thread.begin(), per_thread.end());
  CHECK(all.size() == 4 * kPerThread);
}

// Before the fork handler, a child that sealed went on from its parent's
// per-thread prefix and counter, so its first nonce was the parent's next.
TEST_CASE("BodyCipher: after fork(), parent and child never repeat a nonce", "[cipher]") {
  auto cipher = BodyCipher::Create(std::string(32, 'f'));
  COURIER_REQUIRE_OK(cipher);
  constexpr int kEach = 1'000;  // 24 KB through the pipe: below its capacity
  auto nonce = [&cipher] { return cipher->Seal("x", "ad").substr(0, 24); };
  std::vector<std::string> before;
  for (int i = 0; i < kEach; ++i) before.push_back(nonce());
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the child: seal, send the nonces, leave without Catch2
    close(fds[0]);
    std::string out;
    for (int i = 0; i < kEach; ++i) out += nonce();
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) _exit(3);
      done += static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::vector<std::string> parent_after;
  for (int i = 0; i < kEach; ++i) parent_after.push_back(nonce());
  std::string child;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) child.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  REQUIRE(WIFEXITED(wstatus));
  REQUIRE(WEXITSTATUS(wstatus) == 0);
  REQUIRE(child.size() == 24u * kEach);
  std::set<std::string> all(before.begin(), before.end());
  all.insert(parent_after.begin(), parent_after.end());
  for (std::size_t i = 0; i < child.size(); i += 24) all.insert(child.substr(i, 24));
  CHECK(all.size() == 3u * kEach);
  // And the child's nonces still open in the parent: same key, same format.
  const std::string sealed_in_parent = cipher->Seal("y", "ad");
  CHECK(cipher->Open(sealed_in_parent, "ad").value() == "y");
}

TEST_CASE("BodyCipher: keys must be 32 bytes, secrets at least 32", "[cipher]") {
  CHECK_THAT(BodyCipher::Create("short").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  CHECK_THAT(DeriveStorageKey("short").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  auto key = DeriveStorageKey(std::string(40, 's'));
  COURIER_REQUIRE_OK(key);
  CHECK(key->size() == 32);
  CHECK(*key == DeriveStorageKey(std::string(40, 's')).value());
}

TEST_CASE("EncryptingStore: the inner store holds only ciphertext, reads give plaintext",
          "[cipher][store]") {
  auto inner_owned = memory::OpenMessageStore();
  MessageStore* inner = inner_owned.get();
  auto store = OpenEncryptingStore(std::move(inner_owned), std::string(32, 'k'));
  COURIER_REQUIRE_OK(store);
  AppendOp op;
  op.sender = "alice";
  op.cid = "c1";
  op.recipient = "bob";
  op.id = "m1";
  op.body = std::string("secret\0body", 11);
  op.ts = 5;
  auto results = (*store)->Write({WriteOp{op}});
  COURIER_REQUIRE_OK(results.at(0));
  const auto& appended = std::get<AppendResult>(*results[0]).appended;
  REQUIRE(appended.size() == 1);
  CHECK(appended[0].event.body == op.body);

  auto raw = inner->Fetch("bob", 0, 10);
  COURIER_REQUIRE_OK(raw);
  REQUIRE(raw->size() == 1);
  CHECK(raw->at(0).body.find("secret") == std::string::npos);
  auto plain = (*store)->Fetch("bob", 0, 10);
  COURIER_REQUIRE_OK(plain);
  CHECK(plain->at(0).body == op.body);

  auto wrong = OpenEncryptingStore(memory::OpenMessageStore(), std::string(31, 'k'));
  CHECK_THAT(wrong.status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

AppendOp SecretAppend(std::string cid, std::string id, std::string body) {
  AppendOp op;
  op.sender = "alice";
  op.cid = std::move(cid);
  op.recipient = "bob";
  op.id = std::move(id);
  op.body = std::move(body);
  op.ts = 5;
  return op;
}

// The engine seals on the submitting thread (Prepare) and the commit
// thread's Write passes the sealed op on: the inner store still sees only
// ciphertext, results and reads still give plaintext, whichever thread
// sealed and whether or not a batch mixes prepared and unprepared ops.
TEST_CASE("EncryptingStore: Prepare seals early; Write takes prepared and unprepared ops alike",
          "[cipher][store]") {
  auto inner_owned = memory::OpenMessageStore();
  MessageStore* inner = inner_owned.get();
  auto store = OpenEncryptingStore(std::move(inner_owned), std::string(32, 'k'));
  COURIER_REQUIRE_OK(store);

  WriteOp prepared = SecretAppend("c1", "m1", "secret one");
  (*store)->Prepare(prepared);
  const AppendOp& sealed = std::get<AppendOp>(prepared);
  REQUIRE(sealed.plaintext == std::optional<std::string>("secret one"));
  CHECK(sealed.body.size() == 24 + 10 + 16);
  CHECK(sealed.body.find("secret") == std::string::npos);
  const std::string first_seal = sealed.body;
  (*store)->Prepare(prepared);  // twice is once: not sealed over the seal
  CHECK(std::get<AppendOp>(prepared).body == first_seal);

  // A plaintext set by hand beside an unsealed body is not taken for a seal:
  // the body is sealed and the results carry it.
  AppendOp forged = SecretAppend("c3", "m3", "secret three");
  forged.plaintext = "not the body";
  GroupSendOp group_send;  // no group: fails, but its body is sealed first
  group_send.sender = "alice";
  group_send.cid = "c4";
  group_send.group = "g1";
  group_send.id = "m4";
  group_send.body = "secret four";
  WriteOp prepared_group{group_send};
  (*store)->Prepare(prepared_group);
  CHECK(std::get<GroupSendOp>(prepared_group).body.find("secret") == std::string::npos);

  auto results = (*store)->Write(
      {prepared, WriteOp{SecretAppend("c2", "m2", "secret two")}, WriteOp{forged}});
  REQUIRE(results.size() == 3);
  for (int i = 0; i < 3; ++i) COURIER_REQUIRE_OK(results[i]);
  CHECK(std::get<AppendResult>(*results[0]).appended.at(0).event.body == "secret one");
  CHECK(std::get<AppendResult>(*results[1]).appended.at(0).event.body == "secret two");
  CHECK(std::get<AppendResult>(*results[2]).appended.at(0).event.body == "secret three");

  auto raw = inner->Fetch("bob", 0, 10);
  COURIER_REQUIRE_OK(raw);
  REQUIRE(raw->size() == 3);
  CHECK(raw->at(0).body == first_seal);  // written as prepared, not sealed again
  for (const Event& e : *raw) CHECK(e.body.find("secret") == std::string::npos);
  auto plain = (*store)->Fetch("bob", 0, 10);
  COURIER_REQUIRE_OK(plain);
  REQUIRE(plain->size() == 3);
  CHECK(plain->at(0).body == "secret one");
  CHECK(plain->at(1).body == "secret two");
  CHECK(plain->at(2).body == "secret three");

  // A batch of prepared ops only (the engine's case): same answers.
  WriteOp again = SecretAppend("c5", "m5", "secret five");
  (*store)->Prepare(again);
  auto only_prepared = (*store)->Write({again});
  COURIER_REQUIRE_OK(only_prepared.at(0));
  CHECK(std::get<AppendResult>(*only_prepared[0]).appended.at(0).event.body == "secret five");
  CHECK((*store)->Fetch("bob", 3, 10)->at(0).body == "secret five");
}

}  // namespace
}  // namespace courier
