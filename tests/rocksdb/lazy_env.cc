#include "lazy_env.h"

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/io_status.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace courier::testing {
namespace {

using ::rocksdb::FileOptions;
using ::rocksdb::IODebugContext;
using ::rocksdb::IOOptions;
using ::rocksdb::IOStatus;
using ::rocksdb::Slice;

// What the simulated disk holds of one file written through the Env.
struct FileState {
  std::string name;          // the name it was created under, for messages
  std::uint64_t size = 0;    // bytes written (all visible to readers)
  std::uint64_t synced = 0;  // bytes a power loss keeps; <= size
};

std::string Basename(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

IOStatus Unsupported(std::string_view what) {
  return IOStatus::NotSupported("LazyEnv does not model " + std::string(what));
}

}  // namespace

struct LazyEnv::Shared {
  explicit Shared(CrashPlan p) : plan(std::move(p)) {}

  // Counts one file operation, and crashes when it is the planned one.
  // `syncing` is the file a Sync/Fsync makes durable (null for other ops).
  // REQUIRES: mu held.
  void Tick(std::string_view op, const std::string& name, FileState* syncing = nullptr) {
    ++ops;
    if (ops != plan.crash_at_op) return;
    std::string description =
        "op " + std::to_string(ops) + ": " + std::string(op) + " " + Basename(name);
    if (syncing != nullptr && plan.mode == CrashMode::kPowerLoss) {
      const std::uint64_t pending = syncing->size - syncing->synced;
      const std::uint64_t kept = plan.torn_seed % (pending + 1);
      syncing->synced += kept;
      description += " (torn: kept " + std::to_string(kept) + " of " + std::to_string(pending) +
                     " unsynced bytes)";
    }
    Crash(description);
  }

  // Ends the process as the plan's mode says. REQUIRES: mu held (it is never
  // released: no other thread may write after the cut).
  [[noreturn]] void Crash(std::string description) {
    if (plan.mode == CrashMode::kPowerLoss) description += "; " + LoseUnsyncedBytes();
    if (plan.on_crash) plan.on_crash(description);
    _exit(plan.exit_code);
  }

  // Truncates every tracked file to its synced length; describes what went.
  // REQUIRES: mu held.
  std::string LoseUnsyncedBytes() {
    std::uint64_t lost_bytes = 0;
    int lost_files = 0;
    std::string errors;
    for (const auto& [name, file] : files) {
      if (file->size == file->synced) continue;
      if (::truncate(name.c_str(), static_cast<off_t>(file->synced)) != 0) {
        errors += " truncate " + Basename(name) + " failed: " + std::strerror(errno) + ";";
        continue;
      }
      lost_bytes += file->size - file->synced;
      ++lost_files;
    }
    return "power loss dropped " + std::to_string(lost_bytes) + " unsynced bytes of " +
           std::to_string(lost_files) + " files" + errors;
  }

  std::mutex mu;
  const CrashPlan plan;
  std::uint64_t ops = 0;  // guarded by mu
  // Every file written through the Env, under its current name. Guarded by mu.
  std::map<std::string, std::shared_ptr<FileState>> files;
};

namespace {

using Shared = LazyEnv::Shared;

// A file being written: appends go through at once, durability is tracked.
class LazyWritableFile final : public ::rocksdb::FSWritableFileOwnerWrapper {
 public:
  LazyWritableFile(std::unique_ptr<::rocksdb::FSWritableFile> target,
                   std::shared_ptr<Shared> shared, std::shared_ptr<FileState> file)
      : FSWritableFileOwnerWrapper(std::move(target)),
        shared_(std::move(shared)),
        file_(std::move(file)) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    std::lock_guard lock(shared_->mu);
    shared_->Tick("append", file_->name);
    return Appended(target()->Append(data, options, dbg), data.size());
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const ::rocksdb::DataVerificationInfo& info, IODebugContext* dbg) override {
    std::lock_guard lock(shared_->mu);
    shared_->Tick("append", file_->name);
    return Appended(target()->Append(data, options, info, dbg), data.size());
  }
  IOStatus PositionedAppend(const Slice&, std::uint64_t, const IOOptions&,
                            IODebugContext*) override {
    return Unsupported("PositionedAppend (direct I/O)");
  }
  IOStatus PositionedAppend(const Slice&, std::uint64_t, const IOOptions&,
                            const ::rocksdb::DataVerificationInfo&, IODebugContext*) override {
    return Unsupported("PositionedAppend (direct I/O)");
  }

  // Shrinking a file is durable at once (a metadata change, see the header).
  IOStatus Truncate(std::uint64_t size, const IOOptions& options, IODebugContext* dbg) override {
    std::lock_guard lock(shared_->mu);
    shared_->Tick("truncate", file_->name);
    IOStatus s = target()->Truncate(size, options, dbg);
    if (s.ok()) {
      file_->size = size;
      file_->synced = std::min(file_->synced, size);
    }
    return s;
  }

  // Closing makes nothing durable.
  IOStatus Close(const IOOptions& options, IODebugContext* dbg) override {
    std::lock_guard lock(shared_->mu);
    shared_->Tick("close", file_->name);
    return target()->Close(options, dbg);
  }

  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    return MakeDurable("sync", options, dbg);
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return MakeDurable("fsync", options, dbg);
  }
  // sync_file_range starts writeback but promises nothing after a power cut
  // (no metadata, no disk cache flush): it makes nothing durable here.
  IOStatus RangeSync(std::uint64_t, std::uint64_t, const IOOptions&, IODebugContext*) override {
    std::lock_guard lock(shared_->mu);
    shared_->Tick("range-sync", file_->name);
    return IOStatus::OK();
  }
  bool IsSyncThreadSafe() const override { return true; }

  // Preallocation changes neither content nor durability; skipped, because
  // on tmpfs it would zero megabytes per file (4 MiB per MANIFEST).
  IOStatus Allocate(std::uint64_t, std::uint64_t, const IOOptions&, IODebugContext*) override {
    return IOStatus::OK();
  }

 private:
  IOStatus Appended(IOStatus s, std::size_t bytes) {
    if (s.ok()) file_->size += bytes;
    return s;
  }

  // Every byte written so far becomes durable (no real fsync: see the header).
  IOStatus MakeDurable(std::string_view op, const IOOptions& options, IODebugContext* dbg) {
    std::lock_guard lock(shared_->mu);
    shared_->Tick(op, file_->name, file_.get());
    IOStatus s = target()->Flush(options, dbg);
    if (s.ok()) file_->synced = file_->size;
    return s;
  }

  std::shared_ptr<Shared> shared_;
  std::shared_ptr<FileState> file_;
};

// A directory: its fsync is a counted operation with no effect, since names
// are durable at once in this model.
class LazyDirectory final : public ::rocksdb::FSDirectoryWrapper {
 public:
  LazyDirectory(std::unique_ptr<::rocksdb::FSDirectory> target, std::shared_ptr<Shared> shared,
                std::string name)
      : FSDirectoryWrapper(std::move(target)), shared_(std::move(shared)), name_(std::move(name)) {}

  IOStatus Fsync(const IOOptions&, IODebugContext*) override { return Counted(); }
  IOStatus FsyncWithDirOptions(const IOOptions&, IODebugContext*,
                               const ::rocksdb::DirFsyncOptions&) override {
    return Counted();
  }

 private:
  IOStatus Counted() {
    std::lock_guard lock(shared_->mu);
    shared_->Tick("dir-sync", name_);
    return IOStatus::OK();
  }

  std::shared_ptr<Shared> shared_;
  std::string name_;
};

class LazyFileSystem final : public ::rocksdb::FileSystemWrapper {
 public:
  explicit LazyFileSystem(std::shared_ptr<Shared> shared)
      : FileSystemWrapper(::rocksdb::FileSystem::Default()), shared_(std::move(shared)) {}

  const char* Name() const override { return "LazyFileSystem"; }

  IOStatus NewWritableFile(const std::string& name, const FileOptions& options,
                           std::unique_ptr<::rocksdb::FSWritableFile>* result,
                           IODebugContext* dbg) override {
    return OpenWritable(Opening::kCreate, name, options, result, dbg);
  }
  IOStatus ReopenWritableFile(const std::string& name, const FileOptions& options,
                              std::unique_ptr<::rocksdb::FSWritableFile>* result,
                              IODebugContext* dbg) override {
    return OpenWritable(Opening::kReopen, name, options, result, dbg);
  }

  IOStatus ReuseWritableFile(const std::string&, const std::string&, const FileOptions&,
                             std::unique_ptr<::rocksdb::FSWritableFile>*,
                             IODebugContext*) override {
    return Unsupported("ReuseWritableFile (log recycling)");
  }
  IOStatus NewRandomRWFile(const std::string&, const FileOptions&,
                           std::unique_ptr<::rocksdb::FSRandomRWFile>*,
                           IODebugContext*) override {
    return Unsupported("NewRandomRWFile");
  }
  IOStatus LinkFile(const std::string&, const std::string&, const IOOptions&,
                    IODebugContext*) override {
    return Unsupported("LinkFile");
  }

  // Durable at once; the synced length travels with the file.
  IOStatus RenameFile(const std::string& from, const std::string& to, const IOOptions& options,
                      IODebugContext* dbg) override {
    std::lock_guard lock(shared_->mu);
    shared_->Tick("rename", from);
    IOStatus s = target()->RenameFile(from, to, options, dbg);
    if (!s.ok()) return s;
    auto moved = shared_->files.extract(from);
    shared_->files.erase(to);
    if (!moved.empty()) {
      moved.key() = to;
      shared_->files.insert(std::move(moved));
    }
    return s;
  }

  // Durable at once.
  IOStatus DeleteFile(const std::string& name, const IOOptions& options,
                      IODebugContext* dbg) override {
    std::lock_guard lock(shared_->mu);
    shared_->Tick("delete", name);
    IOStatus s = target()->DeleteFile(name, options, dbg);
    if (s.ok()) shared_->files.erase(name);
    return s;
  }

  // Durable at once, like the file's own Truncate.
  IOStatus Truncate(const std::string& name, std::size_t size, const IOOptions& options,
                    IODebugContext* dbg) override {
    std::lock_guard lock(shared_->mu);
    shared_->Tick("truncate", name);
    IOStatus s = target()->Truncate(name, size, options, dbg);
    auto it = shared_->files.find(name);
    if (s.ok() && it != shared_->files.end()) {
      it->second->size = size;
      it->second->synced = std::min<std::uint64_t>(it->second->synced, size);
    }
    return s;
  }

  IOStatus NewDirectory(const std::string& name, const IOOptions& options,
                        std::unique_ptr<::rocksdb::FSDirectory>* result,
                        IODebugContext* dbg) override {
    std::unique_ptr<::rocksdb::FSDirectory> dir;
    IOStatus s = target()->NewDirectory(name, options, &dir, dbg);
    if (s.ok()) *result = std::make_unique<LazyDirectory>(std::move(dir), shared_, name);
    return s;
  }

 private:
  enum class Opening {
    kCreate,  // a new (or truncated) file: empty after a power loss until synced
    kReopen,  // appending to an existing file: what it held before and this
              // Env did not write is taken as durable
  };

  // A writable file, opened on the target and tracked.
  IOStatus OpenWritable(Opening how, const std::string& name, const FileOptions& options,
                        std::unique_ptr<::rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
    const bool reopen = how == Opening::kReopen;
    std::lock_guard lock(shared_->mu);
    shared_->Tick(reopen ? "reopen" : "create", name);
    std::unique_ptr<::rocksdb::FSWritableFile> file;
    IOStatus s = reopen ? target()->ReopenWritableFile(name, options, &file, dbg)
                        : target()->NewWritableFile(name, options, &file, dbg);
    if (!s.ok()) return s;
    std::shared_ptr<FileState>& state = shared_->files[name];
    if (state == nullptr || !reopen) {
      state = std::make_shared<FileState>();
      state->name = name;
      if (reopen) state->size = state->synced = file->GetFileSize(IOOptions(), dbg);
    }
    *result = std::make_unique<LazyWritableFile>(std::move(file), shared_, state);
    return s;
  }

  std::shared_ptr<Shared> shared_;
};

}  // namespace

LazyEnv::LazyEnv(CrashPlan plan)
    : shared_(std::make_shared<Shared>(std::move(plan))),
      env_(::rocksdb::NewCompositeEnv(std::make_shared<LazyFileSystem>(shared_))) {}

LazyEnv::~LazyEnv() = default;

::rocksdb::Env* LazyEnv::env() const { return env_.get(); }

std::uint64_t LazyEnv::ops() const {
  std::lock_guard lock(shared_->mu);
  return shared_->ops;
}

void LazyEnv::CrashNow(const std::string& why) {
  shared_->mu.lock();  // never released: the process ends
  shared_->Crash("after op " + std::to_string(shared_->ops) + ": " + why);
}

}  // namespace courier::testing
