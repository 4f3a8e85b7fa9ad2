#include "courier/body_cipher.h"

#include <sys/wait.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "chacha20_lanes.h"
#include "poly1305_lanes.h"
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

// The stored form is libsodium's crypto_aead_xchacha20poly1305_ietf; Seal
// and Open split its work their own way (one keystream call up to 448
// bytes, subkeys kept per thread), so each size class is checked against
// libsodium in both directions, with tampering of every part.
TEST_CASE("BodyCipher: the stored form is libsodium's XChaCha20-Poly1305, at every size class",
          "[cipher]") {
  const std::string key(32, 'q');
  auto cipher = BodyCipher::Create(key);
  COURIER_REQUIRE_OK(cipher);
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  for (std::size_t n : {0, 1, 15, 16, 17, 63, 64, 65, 100, 191, 192, 193, 255, 256, 447, 448,
                        449, 512, 5000}) {
    for (std::size_t ad_size : {0, 1, 16, 27, 700}) {
      CAPTURE(n, ad_size);
      std::string plain(n, '\0');
      for (std::size_t i = 0; i < n; ++i) plain[i] = static_cast<char>(i * 7 + n);
      const std::string ad(ad_size, 'a');
      const auto* a = reinterpret_cast<const unsigned char*>(ad.data());
      // Ours -> libsodium's.
      const std::string sealed = cipher->Seal(plain, ad);
      REQUIRE(sealed.size() == 24 + n + 16);
      std::string opened(n, '\0');
      unsigned long long opened_len = 0;
      const auto* s = reinterpret_cast<const unsigned char*>(sealed.data());
      CHECK(crypto_aead_xchacha20poly1305_ietf_decrypt(
                reinterpret_cast<unsigned char*>(opened.data()), &opened_len, nullptr, s + 24,
                sealed.size() - 24, a, ad.size(), s, k) == 0);
      CHECK(opened_len == n);
      CHECK(opened == plain);
      // libsodium's -> ours, through Open and OpenInPlace.
      std::string theirs(24 + n + 16, '\0');
      auto* t = reinterpret_cast<unsigned char*>(theirs.data());
      randombytes_buf(t, 24);
      unsigned long long theirs_len = 0;
      crypto_aead_xchacha20poly1305_ietf_encrypt(
          t + 24, &theirs_len, reinterpret_cast<const unsigned char*>(plain.data()), n, a,
          ad.size(), nullptr, t, k);
      REQUIRE(theirs_len == n + 16);
      CHECK(cipher->Open(theirs, ad).value() == plain);
      std::string in_place = theirs;
      COURIER_REQUIRE_OK(cipher->OpenInPlace(in_place, ad));
      CHECK(in_place == plain);
      // A flipped bit anywhere (nonce, body, tag) or other associated data
      // fails, and leaves the body as it was.
      for (std::size_t at : {std::size_t{0}, std::size_t{20}, 24 + n / 2, theirs.size() - 1}) {
        if (at >= 24 && at < 24 + n && n == 0) continue;
        std::string tampered = theirs;
        tampered[at] ^= 0x10;
        const std::string before = tampered;
        CHECK_THAT(cipher->OpenInPlace(tampered, ad), StatusIs(absl::StatusCode::kDataLoss));
        CHECK(tampered == before);
      }
      CHECK_THAT(cipher->Open(theirs, ad + "x").status(), StatusIs(absl::StatusCode::kDataLoss));
    }
  }
}

// No associated data as a default string_view (its data() is null), and an
// empty body: the same as empty strings.
TEST_CASE("BodyCipher: empty and null associated data, empty bodies", "[cipher]") {
  auto cipher = BodyCipher::Create(std::string(32, 'n'));
  COURIER_REQUIRE_OK(cipher);
  const std::string sealed = cipher->Seal("", std::string_view());
  CHECK(sealed.size() == 24 + 16);
  CHECK(cipher->Open(sealed, std::string_view()).value().empty());
  CHECK(cipher->Open(sealed, "").value().empty());
  CHECK_THAT(cipher->Open(sealed, "x").status(), StatusIs(absl::StatusCode::kDataLoss));
  const std::string body = cipher->Seal("body", std::string_view());
  CHECK(cipher->Open(body, std::string()).value() == "body");
}

// Each thread keeps the subkeys of a few (cipher, nonce prefix) pairs: two
// ciphers, on threads that sealed with other prefixes, never take each
// other's.
TEST_CASE("BodyCipher: ciphers of other keys and bodies of other threads, interleaved",
          "[cipher]") {
  auto one = BodyCipher::Create(std::string(32, '1'));
  auto two = BodyCipher::Create(std::string(32, '2'));
  COURIER_REQUIRE_OK(one);
  COURIER_REQUIRE_OK(two);
  auto same_key = BodyCipher::Create(std::string(32, '1'));
  COURIER_REQUIRE_OK(same_key);
  std::vector<std::string> sealed_one, sealed_two;
  std::vector<std::thread> threads;
  std::mutex mu;
  for (int t = 0; t < 6; ++t) {  // more prefixes than a thread keeps
    threads.emplace_back([&, t] {
      std::string a = one->Seal("from one " + std::to_string(t), "ad");
      std::string b = two->Seal("from two " + std::to_string(t), "ad");
      std::lock_guard<std::mutex> lock(mu);
      sealed_one.push_back(std::move(a));
      sealed_two.push_back(std::move(b));
    });
  }
  for (auto& t : threads) t.join();
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < sealed_one.size(); ++i) {
      CHECK(one->Open(sealed_one[i], "ad").value().rfind("from one ", 0) == 0);
      CHECK(same_key->Open(sealed_one[i], "ad").value().rfind("from one ", 0) == 0);
      CHECK(two->Open(sealed_two[i], "ad").value().rfind("from two ", 0) == 0);
      CHECK_THAT(two->Open(sealed_one[i], "ad").status(), StatusIs(absl::StatusCode::kDataLoss));
      CHECK_THAT(one->Open(sealed_two[i], "ad").status(), StatusIs(absl::StatusCode::kDataLoss));
    }
  }
}

// The lanes' blocks are libsodium's ChaCha20 (RFC 8439) block for block:
// every count of jobs from 1 to 40 (short last groups for 4, 8 and 16
// lanes), each job its own key, nonce and counter (the largest included),
// in every width this CPU runs (the widest is what ChaCha20Blocks uses; a
// machine without AVX-512 or AVX2 runs the narrower ones).
TEST_CASE("ChaCha20Blocks: every job's block is libsodium's, whatever the lanes",
          "[cipher]") {
  std::vector<unsigned char> keys(40 * 32), nonces(40 * 12), out(40 * 64);
  randombytes_buf(keys.data(), keys.size());
  randombytes_buf(nonces.data(), nonces.size());
  const std::uint32_t counters[] = {0, 1, 2, 7, 0xfffffffeu, 0xffffffffu};
  int widths = 0;
  for (const int lanes : {4, 8, 16}) {
    if (lanes > internal::ChaCha20Lanes()) continue;  // instructions this CPU lacks
    ++widths;
    INFO("lanes " << lanes << " of " << internal::ChaCha20Lanes());
    for (std::size_t count = 1; count <= 40; ++count) {
      CAPTURE(count);
      std::vector<internal::ChaChaBlockJob> jobs;
      for (std::size_t i = 0; i < count; ++i) {
        jobs.push_back(
            {&keys[32 * i], &nonces[12 * ((i * 7) % 40)], counters[i % 6], &out[64 * i]});
      }
      std::fill(out.begin(), out.end(), 0);
      internal::ChaCha20BlocksInLanes(lanes, jobs);
      for (std::size_t i = 0; i < count; ++i) {
        unsigned char expected[64] = {0};
        crypto_stream_chacha20_ietf_xor_ic(expected, expected, 64, jobs[i].nonce, jobs[i].counter,
                                           jobs[i].key);
        CHECK(std::memcmp(expected, &out[64 * i], 64) == 0);
      }
      CHECK(std::all_of(out.begin() + 64 * count, out.end(),
                        [](unsigned char b) { return b == 0; }));
    }
  }
  CHECK(widths >= 1);
}

// The lanes' tags are libsodium's Poly1305 (RFC 8439) tag for tag: every
// message length from 0 to 300 (every short last block; lengths that
// differ inside one group of lanes, so that lanes finish apart), keys whose
// r is all ones before clamping and whose s carries out of 2^128, messages
// of all 0xff bytes (the largest limbs), and counts of 1-19 jobs (short
// last groups), in every path this CPU runs.
TEST_CASE("Poly1305Tags: every job's tag is libsodium's, whatever the lanes", "[cipher]") {
  constexpr std::size_t kMaxLen = 300;
  std::vector<unsigned char> messages(kMaxLen * 3);
  randombytes_buf(messages.data(), kMaxLen);
  std::fill(messages.begin() + kMaxLen, messages.begin() + 2 * kMaxLen, 0xff);
  std::fill(messages.begin() + 2 * kMaxLen, messages.end(), 0);
  std::vector<unsigned char> keys(19 * 32);
  randombytes_buf(keys.data(), keys.size());
  std::fill(keys.begin(), keys.begin() + 32, 0xff);    // r and s all ones
  std::fill(keys.begin() + 32, keys.begin() + 48, 0);  // r zero
  int paths = 0;
  for (const int lanes : {1, 4, 8}) {
    if (lanes > internal::Poly1305Lanes()) continue;  // instructions this CPU lacks
    ++paths;
    INFO("lanes " << lanes << " (this CPU's widest: " << internal::Poly1305Lanes() << ")");
    for (std::size_t count = 1; count <= 19; ++count) {
      for (std::size_t len = 0; len <= kMaxLen; len += count) {
        std::vector<internal::Poly1305Job> jobs;
        std::vector<unsigned char> tags(16 * count + 16, 0xaa);
        for (std::size_t i = 0; i < count; ++i) {
          const std::size_t n = (len + 7 * i) % (kMaxLen + 1);  // lengths differ per lane
          const unsigned char* m = &messages[kMaxLen * ((len + i) % 3)];
          jobs.push_back({&keys[32 * i], n == 0 && i % 2 == 0 ? nullptr : m, n, &tags[16 * i]});
        }
        internal::Poly1305TagsInLanes(lanes, jobs);
        for (std::size_t i = 0; i < count; ++i) {
          unsigned char expected[16];
          crypto_onetimeauth_poly1305(expected, jobs[i].message, jobs[i].size, jobs[i].key);
          CAPTURE(count, len, i, jobs[i].size);
          CHECK(std::memcmp(expected, &tags[16 * i], 16) == 0);
        }
        CHECK(std::all_of(tags.end() - 16, tags.end(), [](unsigned char b) { return b == 0xaa; }));
      }
    }
  }
  CHECK(paths >= 1);
}

// A page as Fetch opens it: bodies of every size class (one chunk of the
// lanes is 16 bodies: the page spans several), sealed by this cipher on
// several threads and by libsodium with random nonces (more subkeys than a
// thread keeps), each with its own associated data (some of it long).
struct SealedPage {
  std::vector<std::string> plain, ads, sealed;
};

SealedPage MakePage(const BodyCipher& cipher, const std::string& key) {
  SealedPage page;
  const std::size_t sizes[] = {0, 1, 15, 63, 64, 65, 100, 100, 100, 191, 192, 193, 447, 448, 449, 5000};
  for (int round = 0; round < 3; ++round) {
    for (std::size_t n : sizes) {
      std::string plain(n, '\0');
      for (std::size_t i = 0; i < n; ++i) plain[i] = static_cast<char>(i * 13 + n + round);
      std::string ad = "m" + std::to_string(page.plain.size()) + std::string(1, '\0') + "bob";
      // Associated data so long that a short body's MAC input outgrows its
      // buffer in the page's lanes (tagged alone, by ComputeTag).
      if (n == 447 || (n == 100 && round == 2)) ad += std::string(n == 447 ? 200 : 600, 'a');
      std::string sealed;
      if (round == 1) {  // libsodium's, random nonce
        sealed.assign(24 + n + 16, '\0');
        auto* t = reinterpret_cast<unsigned char*>(sealed.data());
        randombytes_buf(t, 24);
        crypto_aead_xchacha20poly1305_ietf_encrypt(
            t + 24, nullptr, reinterpret_cast<const unsigned char*>(plain.data()), n,
            reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, t,
            reinterpret_cast<const unsigned char*>(key.data()));
      } else if (round == 2) {  // another thread's prefix
        std::thread([&] { sealed = cipher.Seal(plain, ad); }).join();
      } else {
        sealed = cipher.Seal(plain, ad);
      }
      page.plain.push_back(std::move(plain));
      page.ads.push_back(std::move(ad));
      page.sealed.push_back(std::move(sealed));
    }
  }
  return page;
}

std::vector<BodyCipher::SealedBody> Bodies(std::vector<std::string>& bodies,
                                           const std::vector<std::string>& ads) {
  std::vector<BodyCipher::SealedBody> out;
  for (std::size_t i = 0; i < bodies.size(); ++i) out.push_back({&bodies[i], ads[i]});
  return out;
}

TEST_CASE("BodyCipher: OpenAllInPlace opens a page as OpenInPlace opens each body", "[cipher]") {
  const std::string key(32, 'p');
  auto cipher = BodyCipher::Create(key);
  COURIER_REQUIRE_OK(cipher);
  SealedPage page = MakePage(*cipher, key);
  for (std::size_t count : {std::size_t{1}, std::size_t{16}, std::size_t{17}, page.sealed.size()}) {
    CAPTURE(count);
    std::vector<std::string> bodies(page.sealed.begin(), page.sealed.begin() + count);
    std::size_t failed = 99;
    COURIER_REQUIRE_OK(cipher->OpenAllInPlace(Bodies(bodies, page.ads), &failed));
    CHECK(failed == 99);  // untouched on success
    for (std::size_t i = 0; i < count; ++i) CHECK(bodies[i] == page.plain[i]);
  }
  std::vector<std::string> none;
  COURIER_REQUIRE_OK(cipher->OpenAllInPlace(Bodies(none, page.ads)));
}

// The first body that fails stops the page: its index, the bodies before it
// opened, it left as it was; whether it is short (batched), long (one by
// one) or too short to be sealed, in the first chunk or a later one, or
// opened with other associated data.
TEST_CASE("BodyCipher: OpenAllInPlace names the first body that fails", "[cipher]") {
  const std::string key(32, 'f');
  auto cipher = BodyCipher::Create(key);
  COURIER_REQUIRE_OK(cipher);
  SealedPage page = MakePage(*cipher, key);
  REQUIRE(page.sealed.size() == 48);
  for (std::size_t bad : {0, 6, 15, 16, 17, 31, 47}) {
    for (int how = 0; how < 3; ++how) {
      CAPTURE(bad, how);
      std::vector<std::string> bodies = page.sealed;
      std::vector<std::string> ads = page.ads;
      if (how == 0) bodies[bad][bodies[bad].size() - 1] ^= 0x01;  // the tag
      if (how == 1) ads[bad] += "x";
      if (how == 2) bodies[bad] = "short";
      const std::string before = bodies[bad];
      std::size_t failed = 99;
      CHECK_THAT(cipher->OpenAllInPlace(Bodies(bodies, ads), &failed),
                 StatusIs(absl::StatusCode::kDataLoss));
      CHECK(failed == bad);
      for (std::size_t i = 0; i < bad; ++i) CHECK(bodies[i] == page.plain[i]);
      CHECK(bodies[bad] == before);
    }
  }
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

// Fetch opens a page's bodies together: receipts among them stay as they
// are, and a body the inner store holds broken fails the read, naming its
// seq.
// The result of one op written alone.
absl::StatusOr<WriteResult> WriteOne(MessageStore& store, WriteOp op) {
  return store.Write({std::move(op)}).at(0);
}

TEST_CASE("EncryptingStore: Fetch opens a page of many bodies; a broken one names its seq",
          "[cipher][store]") {
  auto inner_owned = memory::OpenMessageStore();
  MessageStore* inner = inner_owned.get();
  auto store = OpenEncryptingStore(std::move(inner_owned), std::string(32, 'k'));
  COURIER_REQUIRE_OK(store);
  std::vector<std::string> bodies;
  auto send = [&](int i) {
    bodies.push_back(std::string(static_cast<std::size_t>(i * 7 % 300), static_cast<char>('a' + i % 26)));
    COURIER_REQUIRE_OK(WriteOne(**store, SecretAppend("c" + std::to_string(i),
                                                      "m" + std::to_string(i), bodies.back())));
  };
  for (int i = 0; i < 20; ++i) send(i);
  // A receipt in bob's inbox between his messages: bob sends, alice acks.
  AppendOp to_alice = SecretAppend("r1", "r1", "to alice");
  std::swap(to_alice.sender, to_alice.recipient);
  COURIER_REQUIRE_OK(WriteOne(**store, to_alice));
  COURIER_REQUIRE_OK(WriteOne(**store, AttachOp{"alice", "d"}));
  COURIER_REQUIRE_OK(WriteOne(**store, AckOp{"alice", "d", 1, 6}));
  for (int i = 20; i < 40; ++i) send(i);
  auto page = (*store)->Fetch("bob", 0, 100);
  COURIER_REQUIRE_OK(page);
  REQUIRE(page->size() == 41);
  for (std::size_t i = 0; i < 41; ++i) {
    if (i == 20) {
      CHECK(page->at(i).kind == EventKind::kReceipt);
      CHECK(page->at(i).id == "r1");
      continue;
    }
    CHECK(page->at(i).body == bodies[i < 20 ? i : i - 1]);
  }

  AppendOp forged = SecretAppend("c40", "m40", std::string(40, 'z'));  // not sealed: seq 42
  COURIER_REQUIRE_OK(WriteOne(*inner, forged));
  send(41);
  auto broken = (*store)->Fetch("bob", 30, 100);
  CHECK_THAT(broken.status(), StatusIs(absl::StatusCode::kDataLoss));
  CHECK(broken.status().message().find("seq 42") != std::string_view::npos);
  auto before = (*store)->Fetch("bob", 30, 11);
  COURIER_REQUIRE_OK(before);
  CHECK(before->size() == 11);
  auto after = (*store)->Fetch("bob", 42, 10);
  COURIER_REQUIRE_OK(after);
  REQUIRE(after->size() == 1);
  CHECK(after->at(0).body == bodies.back());
}

}  // namespace
}  // namespace courier
