// web_assets.h: the files of examples/web, embedded at build time.
//
// CMake runs embed_web.cmake over examples/web and compiles the result
// (web_assets_data.cc), so the binary serves the page with no files beside
// it. When the folder is empty a small page says so.
//
// Thread-safety: immutable data. Blocking: never.
#ifndef COURIER_EXAMPLES_SERVER_WEB_ASSETS_H_
#define COURIER_EXAMPLES_SERVER_WEB_ASSETS_H_

#include <cstddef>
#include <string_view>

namespace courier::server {

struct WebAsset {
  std::string_view path;          // "/index.html"
  std::string_view content_type;  // from the file's extension
  std::string_view data;
};

// The asset served at `path` ("/" is "/index.html"), or null.
const WebAsset* FindWebAsset(std::string_view path);

// What embed_web.cmake generates.
struct EmbeddedFile {
  std::string_view path;  // relative to examples/web, with a leading '/'
  std::string_view data;
};
extern const EmbeddedFile* const kEmbeddedWebFiles;
extern const std::size_t kEmbeddedWebFileCount;

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_WEB_ASSETS_H_
