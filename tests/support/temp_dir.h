// A directory under $TMPDIR (or /tmp) that is removed with everything in it
// when the object is destroyed.
#ifndef COURIER_TESTS_SUPPORT_TEMP_DIR_H_
#define COURIER_TESTS_SUPPORT_TEMP_DIR_H_

#include <string>

namespace courier::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace courier::testing

#endif  // COURIER_TESTS_SUPPORT_TEMP_DIR_H_
