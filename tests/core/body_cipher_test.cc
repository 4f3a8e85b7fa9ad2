#include "courier/body_cipher.h"

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

}  // namespace
}  // namespace courier
