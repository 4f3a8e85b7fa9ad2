// web_assets.cc: the lookup and content types of the embedded web files.
#include "web_assets.h"

#include <vector>

namespace courier::server {
namespace {

std::string_view ContentType(std::string_view path) {
  struct Type {
    std::string_view ext, type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},  {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},          {".svg", "image/svg+xml"},
      {".png", "image/png"},                  {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},  {".md", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
  };
  for (const Type& t : kTypes) {
    if (path.size() >= t.ext.size() && path.substr(path.size() - t.ext.size()) == t.ext) {
      return t.type;
    }
  }
  return "application/octet-stream";
}

constexpr std::string_view kEmptyPage =
    "<!doctype html><meta charset=utf-8><title>Courier</title>"
    "<h1>Courier</h1><p>courier-server is running, but it was built while examples/web was "
    "empty, so there is no page to show. Rebuild after adding the web files; the HTTP and "
    "WebSocket API (docs/PROTOCOL.md) works meanwhile.</p>";

std::vector<WebAsset> BuildAssets() {
  std::vector<WebAsset> assets;
  for (std::size_t i = 0; i < kEmbeddedWebFileCount; ++i) {
    const EmbeddedFile& f = kEmbeddedWebFiles[i];
    assets.push_back(WebAsset{f.path, ContentType(f.path), f.data});
  }
  return assets;
}

}  // namespace

const WebAsset* FindWebAsset(std::string_view path) {
  static const std::vector<WebAsset> assets = BuildAssets();
  static const WebAsset empty_page{"/index.html", "text/html; charset=utf-8", kEmptyPage};
  if (path == "/") path = "/index.html";
  for (const WebAsset& a : assets) {
    if (a.path == path) return &a;
  }
  if (path == "/index.html") return &empty_page;
  return nullptr;
}

}  // namespace courier::server
