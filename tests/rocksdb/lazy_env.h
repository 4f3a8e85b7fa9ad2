// tests/rocksdb/lazy_env.h: a rocksdb::Env whose files lose, at a simulated
// power cut, every byte that was never synced (in the manner of Jepsen's
// LazyFS), and that can crash the process at a chosen file operation.
//
// The model, per file written through this Env:
//   * Append writes through to the real file at once (RocksDB reads back what
//     it wrote, as it would from the page cache), and the Env remembers the
//     file's SYNCED length: what a Sync/Fsync made durable.
//   * Sync/Fsync make the whole file durable (no real fsync is done: the power
//     cut is simulated, so the real disk never loses anything).
//   * RangeSync, Flush and Close make nothing durable: a closed file that was
//     never synced loses its content; one created and never synced is left
//     empty (its creation itself is kept).
//   * Creating, renaming and deleting files and truncating them count as
//     durable at once (as if every directory were fsync'ed right away).
//   * A power loss truncates every tracked file back to its synced length.
//   * Preallocation (Allocate) is skipped: it changes no content.
//
// The crash: the Env counts file operations (creating, appending, syncing,
// range-syncing, truncating, closing, renaming, deleting files and syncing
// directories; not reads, not Flush). At operation number `crash_at_op` it
// crashes before that operation takes effect: when the operation is a
// Sync/Fsync, a seeded prefix of the file's unsynced bytes becomes durable
// first (a sync cut off half way). In kPowerLoss mode it then performs the
// power loss; in kProcessCrash mode it keeps every byte (the OS had them, as
// after SIGKILL). Either way it calls `on_crash` and ends the process with
// _exit(exit_code) while holding the Env's lock, so no thread writes
// anything after the cut. Nothing else is flushed or destroyed.
//
// Not supported (NotSupported status): log recycling (ReuseWritableFile),
// random read/write files, hard links and PositionedAppend (direct I/O): the
// durability model above does not cover in-place overwrites. RocksDB's
// default options use none of them. The info LOG is written by the base
// Env's logger, outside this model (it holds no database state).
//
// Ownership: the LazyEnv owns its rocksdb::Env; it must outlive every
//   database opened on env().
// Thread-safety: env() may be used by any number of threads (every file
//   operation takes one lock). CrashNow() may be called from any thread.
// Blocking: file operations do real file I/O but never fsync.
// Fork: create the LazyEnv in the process that uses it; RocksDB's shared
//   background threads do not survive a fork().
#ifndef COURIER_TESTS_ROCKSDB_LAZY_ENV_H_
#define COURIER_TESTS_ROCKSDB_LAZY_ENV_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace courier::testing {

// The exit code of a process ended by LazyEnv's crash, unless the plan says
// otherwise.
inline constexpr int kLazyEnvCrashExitCode = 86;

// What a crash keeps of bytes written but never synced.
enum class CrashMode {
  kPowerLoss,     // nothing: every file falls back to its synced length
  kProcessCrash,  // everything: the kernel had them (a killed process)
};

struct CrashPlan {
  CrashMode mode = CrashMode::kPowerLoss;
  // The 1-based file operation at which the process crashes; 0 = never on
  // its own (only CrashNow()).
  std::uint64_t crash_at_op = 0;
  // When the crash hits a Sync/Fsync of a file with P unsynced bytes, the
  // first (torn_seed % (P + 1)) of them become durable.
  std::uint64_t torn_seed = 0;
  int exit_code = kLazyEnvCrashExitCode;
  // Called once, just before _exit, with a one-line description of the
  // crash ("op 57 of ...: sync 000004.log kept 37 of 120 unsynced bytes").
  // Runs on the crashing thread with the Env's lock held: it must not use
  // the Env. May be empty.
  std::function<void(const std::string& description)> on_crash;
};

class LazyEnv {
 public:
  explicit LazyEnv(CrashPlan plan);
  ~LazyEnv();
  LazyEnv(const LazyEnv&) = delete;
  LazyEnv& operator=(const LazyEnv&) = delete;

  // The Env to pass to RocksDB (rocksdb::Env::Default() but for its files).
  ::rocksdb::Env* env() const;

  // The number of file operations counted so far.
  std::uint64_t ops() const;

  // Crashes now, as the plan's mode says (no torn sync), then _exit.
  [[noreturn]] void CrashNow(const std::string& why);

  struct Shared;  // the state shared with the Env's files (lazy_env.cc)

 private:
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<::rocksdb::Env> env_;
};

}  // namespace courier::testing

#endif  // COURIER_TESTS_ROCKSDB_LAZY_ENV_H_
