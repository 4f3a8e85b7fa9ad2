#include "courier/store_url.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace courier {

StoreUrlParts SplitStoreUrl(std::string_view url_std) {
  const absl::string_view url(url_std.data(), url_std.size());
  const std::size_t q = url.find('?');
  const absl::string_view base = url.substr(0, q);
  StoreUrlParts parts;
  std::vector<absl::string_view> kept;
  if (q != absl::string_view::npos) {
    for (absl::string_view kv : absl::StrSplit(url.substr(q + 1), '&', absl::SkipEmpty())) {
      const std::size_t eq = kv.find('=');
      const absl::string_view key = kv.substr(0, eq);
      if (!absl::StartsWith(key, "courier_")) {
        kept.push_back(kv);
        continue;
      }
      const absl::string_view value = eq == absl::string_view::npos ? "" : kv.substr(eq + 1);
      parts.courier_params.emplace_back(std::string(key), std::string(value));
    }
  }
  parts.driver_url =
      kept.empty() ? std::string(base) : absl::StrCat(base, "?", absl::StrJoin(kept, "&"));
  return parts;
}

}  // namespace courier
