// tests/rocksdb/scratch_dir.h: a fresh directory for one test, removed with
// everything in it when the object is destroyed, unless Keep() was called
// (a failing test keeps its files for a look).
//
// It is made under $COURIER_POWERLOSS_TMPDIR when set, else /dev/shm when
// writable (RocksDB's own fsyncs cost nothing on tmpfs; the LazyEnv never
// fsyncs anyway), else $TMPDIR, else /tmp.
#ifndef COURIER_TESTS_ROCKSDB_SCRATCH_DIR_H_
#define COURIER_TESTS_ROCKSDB_SCRATCH_DIR_H_

#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace courier::testing {

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = Base() + "/courier-powerloss-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed: " + pattern);
    }
    path_ = buffer.data();
  }
  ~ScratchDir() {
    if (keep_) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // Leaves the directory in place when this object is destroyed.
  void Keep() { keep_ = true; }

 private:
  static std::string Base() {
    const char* chosen = std::getenv("COURIER_POWERLOSS_TMPDIR");
    if (chosen != nullptr && *chosen != '\0') return chosen;
    if (::access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
    const char* tmp = std::getenv("TMPDIR");
    return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }

  std::string path_;
  bool keep_ = false;
};

}  // namespace courier::testing

#endif  // COURIER_TESTS_ROCKSDB_SCRATCH_DIR_H_
