// MongoOptions from a URL (courier-server's --store flag).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "courier/mongo.h"
#include "courier/store_url.h"
#include "mongo_client.h"

namespace courier::mongo {

absl::StatusOr<MongoOptions> MongoOptionsFromUrl(std::string_view url_std) {
  const absl::string_view url(url_std.data(), url_std.size());
  absl::string_view rest;
  if (absl::StartsWith(url, "mongodb://")) {
    rest = url.substr(10);
  } else if (absl::StartsWith(url, "mongodb+srv://")) {
    rest = url.substr(14);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "mongo: url must start with mongodb:// or mongodb+srv:// (got \"", url.substr(0, 32),
        "\")"));
  }
  MongoOptions o;
  // The path names the database: mongodb://hosts/NAME?...
  const std::size_t slash = rest.find('/');
  if (slash != absl::string_view::npos) {
    const std::size_t query_in_rest = rest.find('?');
    if (query_in_rest == absl::string_view::npos || slash < query_in_rest) {
      absl::string_view path = rest.substr(slash + 1);
      path = path.substr(0, path.find('?'));
      if (!path.empty()) o.database = std::string(path);
    }
  }
  StoreUrlParts parts = SplitStoreUrl(url_std);
  for (const auto& param : parts.courier_params) {
    const std::string& key = param.first;
    const std::string& value = param.second;
    if (key == "courier_database") {
      o.database = value;
    } else if (key == "courier_w") {
      o.write_concern_w = value;
    } else if (key == "courier_journal") {
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError("mongo: courier_journal is true or false");
      }
      o.journal = value == "true";
    } else if (key == "courier_transactions") {
      if (value == "auto") {
        o.transactions = MongoTransactions::kAuto;
      } else if (value == "required") {
        o.transactions = MongoTransactions::kRequired;
      } else if (value == "off") {
        o.transactions = MongoTransactions::kOff;
      } else {
        return absl::InvalidArgumentError(
            "mongo: courier_transactions is auto, required or off");
      }
    } else if (key == "courier_pool_size") {
      int n = 0;
      if (!absl::SimpleAtoi(value, &n)) {
        return absl::InvalidArgumentError("mongo: courier_pool_size must be a number");
      }
      o.pool_size = n;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("mongo: unknown parameter ", key));
    }
  }
  o.uri = std::move(parts.driver_url);
  absl::Status s = ValidateOptions(o);
  if (!s.ok()) return s;
  return o;
}

}  // namespace courier::mongo
