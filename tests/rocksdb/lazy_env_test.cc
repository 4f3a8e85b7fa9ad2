// LazyEnv, the power-loss test's disk: it must lose exactly what a power cut
// loses (and a killed process exactly nothing), or the power-loss test proves
// nothing. Every write runs in a forked child that crashes; the parent reads
// the files the crash left.
#include "lazy_env.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "child_process.h"
#include "scratch_dir.h"

namespace courier::testing {
namespace {

constexpr auto kDeadline = std::chrono::seconds(60);
// The exit code of a child whose own setup failed (not the planned crash).
constexpr int kSetupFailedExitCode = 3;

// In a child: ends it, with the reason on stderr, unless `s` is OK.
template <typename S>
void OrExit(const S& s, std::string_view what) {
  if (s.ok()) return;
  const std::string line = std::string(what) + ": " + s.ToString() + "\n";
  WriteAll(STDERR_FILENO, line);
  _exit(kSetupFailedExitCode);
}

// One file written through a LazyEnv (in a child).
class TestFile {
 public:
  TestFile(LazyEnv& env, const std::string& path) {
    OrExit(env.env()->GetFileSystem()->NewWritableFile(path, ::rocksdb::FileOptions(), &file_,
                                                      nullptr),
           "create " + path);
  }
  TestFile& Append(std::string_view data) {
    OrExit(file_->Append(::rocksdb::Slice(data.data(), data.size()), ::rocksdb::IOOptions(),
                         nullptr),
           "append");
    return *this;
  }
  TestFile& Sync() {
    OrExit(file_->Sync(::rocksdb::IOOptions(), nullptr), "sync");
    return *this;
  }
  TestFile& Close() {
    OrExit(file_->Close(::rocksdb::IOOptions(), nullptr), "close");
    return *this;
  }

 private:
  std::unique_ptr<::rocksdb::FSWritableFile> file_;
};

void Rename(LazyEnv& env, const std::string& from, const std::string& to) {
  OrExit(env.env()->GetFileSystem()->RenameFile(from, to, ::rocksdb::IOOptions(), nullptr),
         "rename");
}

// The file's content, or "<missing>".
std::string Content(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "<missing>";
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A plan whose crash description goes to the child's pipe.
CrashPlan PlanReportingTo(int fd, CrashMode mode, std::uint64_t crash_at_op = 0,
                          std::uint64_t torn_seed = 0) {
  CrashPlan plan;
  plan.mode = mode;
  plan.crash_at_op = crash_at_op;
  plan.torn_seed = torn_seed;
  plan.on_crash = [fd](const std::string& description) { WriteAll(fd, description + "\n"); };
  return plan;
}

// Writes one file of each kind, then crashes (17 counted operations).
void WriteEveryKindThenCrash(const ScratchDir& dir, CrashMode mode, int fd) {
  LazyEnv env(PlanReportingTo(fd, mode));
  TestFile(env, dir.File("synced-then-more")).Append("hello ").Sync().Append("world").Close();
  TestFile(env, dir.File("never-synced")).Append("lost").Close();
  TestFile(env, dir.File("tmp")).Append("kept").Sync().Close();
  Rename(env, dir.File("tmp"), dir.File("renamed"));
  TestFile open(env, dir.File("open-at-crash"));
  open.Append("abc").Sync().Append("def");
  WriteAll(fd, "ops " + std::to_string(env.ops()) + "\n");
  env.CrashNow("the test's end");
}

// Runs WriteEveryKindThenCrash in a child; requires that the child crashed
// as planned.
ChildOutcome CrashWritingEveryKind(const ScratchDir& dir, CrashMode mode) {
  const ChildOutcome child =
      RunInChild([&](int fd) { WriteEveryKindThenCrash(dir, mode, fd); }, kDeadline);
  INFO("child: " << child.Describe() << ", output: " << child.output);
  REQUIRE(child.exited);
  REQUIRE(child.exit_code == kLazyEnvCrashExitCode);
  return child;
}

TEST_CASE("LazyEnv: a power loss keeps exactly the synced bytes", "[rocksdb][lazy_env]") {
  ScratchDir dir;
  const ChildOutcome child = CrashWritingEveryKind(dir, CrashMode::kPowerLoss);
  CHECK_THAT(child.output, Catch::Contains("ops 17\n"));
  CHECK_THAT(child.output, Catch::Contains("power loss dropped 12 unsynced bytes of 3 files"));

  CHECK(Content(dir.File("synced-then-more")) == "hello ");
  CHECK(Content(dir.File("never-synced")).empty());  // closed is not synced
  CHECK(Content(dir.File("tmp")) == "<missing>");
  CHECK(Content(dir.File("renamed")) == "kept");
  CHECK(Content(dir.File("open-at-crash")) == "abc");
}

TEST_CASE("LazyEnv: a process crash keeps every byte written", "[rocksdb][lazy_env]") {
  ScratchDir dir;
  CrashWritingEveryKind(dir, CrashMode::kProcessCrash);
  CHECK(Content(dir.File("synced-then-more")) == "hello world");
  CHECK(Content(dir.File("never-synced")) == "lost");
  CHECK(Content(dir.File("renamed")) == "kept");
  CHECK(Content(dir.File("open-at-crash")) == "abcdef");
}

// create (1), append (2), sync (3), append (4), sync (5).
void SyncTwiceCrashingAt(const ScratchDir& dir, CrashMode mode, std::uint64_t op,
                         std::uint64_t torn_seed, int fd) {
  LazyEnv env(PlanReportingTo(fd, mode, op, torn_seed));
  TestFile(env, dir.File("f")).Append("0123456789").Sync().Append("abcdefghij").Sync();
  _exit(0);  // not reached when the crash is planned within the five ops
}

TEST_CASE("LazyEnv: a crash inside a sync keeps a seeded prefix of the unsynced bytes",
          "[rocksdb][lazy_env]") {
  const auto [torn_seed, kept] = GENERATE(table<std::uint64_t, std::string>({
      {0, ""}, {3, "abc"}, {10, "abcdefghij"}, {11 + 7, "abcdefg"}}));
  ScratchDir dir;
  const ChildOutcome child = RunInChild(
      [&](int fd) { SyncTwiceCrashingAt(dir, CrashMode::kPowerLoss, 5, torn_seed, fd); },
      kDeadline);
  INFO("torn_seed " << torn_seed << "; child: " << child.Describe() << ", output: "
                    << child.output);
  REQUIRE(child.exit_code == kLazyEnvCrashExitCode);
  CHECK_THAT(child.output, Catch::StartsWith("op 5: sync f (torn: kept " +
                                             std::to_string(kept.size()) + " of 10 "));
  CHECK(Content(dir.File("f")) == "0123456789" + kept);
}

TEST_CASE("LazyEnv: a crash at an append happens before the append", "[rocksdb][lazy_env]") {
  const CrashMode mode = GENERATE(CrashMode::kPowerLoss, CrashMode::kProcessCrash);
  ScratchDir dir;
  const ChildOutcome child = RunInChild(
      [&](int fd) { SyncTwiceCrashingAt(dir, mode, 4, 0, fd); }, kDeadline);
  INFO("child: " << child.Describe() << ", output: " << child.output);
  REQUIRE(child.exit_code == kLazyEnvCrashExitCode);
  CHECK_THAT(child.output, Catch::StartsWith("op 4: append f"));
  CHECK(Content(dir.File("f")) == "0123456789");
}

// In a child: opens a RocksDB database on a LazyEnv, writes one key with a
// synced WAL and one without, and crashes.
void PutTwoKeysThenCrash(const std::string& path, CrashMode mode, int fd) {
  LazyEnv env(PlanReportingTo(fd, mode));
  ::rocksdb::Options options;
  options.create_if_missing = true;
  options.env = env.env();
  ::rocksdb::DB* db = nullptr;
  OrExit(::rocksdb::DB::Open(options, path, &db), "open");
  ::rocksdb::WriteOptions synced;
  synced.sync = true;
  OrExit(db->Put(synced, "durable", "1"), "put durable");
  OrExit(db->Put(::rocksdb::WriteOptions(), "volatile", "2"), "put volatile");
  env.CrashNow("after two puts");
}

// In a child: reopens the database on the real disk and writes which of the
// two keys are there ("durable=found volatile=missing").
void ReportKeys(const std::string& path, int fd) {
  ::rocksdb::DB* db = nullptr;
  OrExit(::rocksdb::DB::Open(::rocksdb::Options(), path, &db), "reopen");
  std::string report;
  for (const char* key : {"durable", "volatile"}) {
    std::string value;
    const ::rocksdb::Status s = db->Get(::rocksdb::ReadOptions(), key, &value);
    report += std::string(key) + "=" + (s.ok() ? "found " : s.IsNotFound() ? "missing " : "error ");
  }
  delete db;
  WriteAll(fd, report);
}

TEST_CASE("LazyEnv: RocksDB keeps a synced write and loses an unsynced one at a power loss",
          "[rocksdb][lazy_env]") {
  const auto [mode, expected] = GENERATE(table<CrashMode, std::string>({
      {CrashMode::kPowerLoss, "durable=found volatile=missing "},
      {CrashMode::kProcessCrash, "durable=found volatile=found "}}));
  ScratchDir dir;
  const std::string path = dir.File("db");
  const ChildOutcome writer =
      RunInChild([&](int fd) { PutTwoKeysThenCrash(path, mode, fd); }, kDeadline);
  INFO("writer: " << writer.Describe() << ", output: " << writer.output);
  REQUIRE(writer.exit_code == kLazyEnvCrashExitCode);
  const ChildOutcome reader = RunInChild([&](int fd) { ReportKeys(path, fd); }, kDeadline);
  INFO("reader: " << reader.Describe());
  REQUIRE(reader.exit_code == 0);
  CHECK(reader.output == expected);
}

}  // namespace
}  // namespace courier::testing
