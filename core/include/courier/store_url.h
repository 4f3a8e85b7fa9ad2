// courier/store_url.h: the query of a store adapter's URL (courier-server's
// --store flag), split between Courier's parameters and the driver's.
//
// The rule every URL-configured store follows: a query parameter whose key
// starts with "courier_" is Courier's (the adapter reads it and refuses one
// it does not know); every other parameter is the driver's and stays in the
// URL the adapter hands its driver, in its order.
// Thread-safety: a pure function.
#ifndef COURIER_CORE_STORE_URL_H_
#define COURIER_CORE_STORE_URL_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "courier/export.h"

namespace courier {

struct StoreUrlParts {
  // `url` without Courier's parameters: what the adapter hands its driver
  // (no '?' when no parameter is left).
  std::string driver_url;
  // Courier's parameters as (key, value), in URL order; a parameter without
  // '=' has an empty value.
  std::vector<std::pair<std::string, std::string>> courier_params;
};

// Splits `url`'s query (what follows its first '?'; parameters separated by
// '&', empty ones dropped) by the rule above. Never fails: the values are
// the adapter's to check.
COURIER_EXPORT StoreUrlParts SplitStoreUrl(std::string_view url);

}  // namespace courier

#endif  // COURIER_CORE_STORE_URL_H_
