// throttle.cc: the throttle rules, counters in memory, and counters in Redis
// (hiredis, one mutex-guarded connection, reconnecting at most once a second).
#include "throttle.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <mutex>
#include <vector>

#include <spdlog/spdlog.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "http_errors.h"

#ifdef COURIER_SERVER_WITH_REDIS
#include <hiredis/hiredis.h>

#include "courier/redis.h"
#endif

namespace courier::server {
namespace {

class MemoryCounters final : public CounterStore {
 public:
  explicit MemoryCounters(std::size_t max_keys) : max_keys_(std::max<std::size_t>(16, max_keys)) {}

  absl::StatusOr<Failures> Get(const std::string& key) override {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return Failures{};
    return it->second.failures;
  }

  absl::StatusOr<Failures> AddFailure(const std::string& key, TimeMs now, TimeMs keep_ms) override {
    absl::MutexLock lock(&mu_);
    Entry& e = Slot(key, now);
    if (e.expires_ms <= now) e = Entry{};
    ++e.failures.count;
    e.failures.last_ms = now;
    e.expires_ms = now + keep_ms;
    return e.failures;
  }

  absl::Status Reset(const std::string& key) override {
    absl::MutexLock lock(&mu_);
    entries_.erase(key);
    return absl::OkStatus();
  }

  absl::StatusOr<Window> Hit(const std::string& key, TimeMs now, TimeMs window_ms) override {
    absl::MutexLock lock(&mu_);
    Entry& e = Slot(key, now);
    if (e.expires_ms <= now) {
      e = Entry{};
      e.expires_ms = now + window_ms;
    }
    ++e.failures.count;
    return Window{e.failures.count, e.expires_ms - now};
  }

 private:
  struct Entry {
    Failures failures;
    TimeMs expires_ms = 0;
  };

  Entry& Slot(const std::string& key, TimeMs now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (entries_.size() >= max_keys_ && !entries_.contains(key)) {
      absl::erase_if(entries_, [now](const auto& kv) { return kv.second.expires_ms <= now; });
      if (entries_.size() >= max_keys_) {
        // Drop the half that expires first: the counters least recently hit.
        std::vector<TimeMs> expiries;
        expiries.reserve(entries_.size());
        for (const auto& kv : entries_) expiries.push_back(kv.second.expires_ms);
        std::nth_element(expiries.begin(), expiries.begin() + expiries.size() / 2, expiries.end());
        const TimeMs cut = expiries[expiries.size() / 2];
        absl::erase_if(entries_, [cut](const auto& kv) { return kv.second.expires_ms <= cut; });
        spdlog::warn("event=throttle_counters_full max_keys={} kept={}", max_keys_,
                     entries_.size());
      }
    }
    return entries_[key];
  }

  const std::size_t max_keys_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

#ifdef COURIER_SERVER_WITH_REDIS

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

// A command's words as hiredis's *CommandArgv take them (argv as const
// char**, so an Argv is not const); borrows `words`.
struct Argv {
  explicit Argv(const std::vector<std::string>& words) {
    for (const std::string& w : words) {
      argv.push_back(w.data());
      lens.push_back(w.size());
    }
  }
  int argc() const { return static_cast<int>(argv.size()); }

  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
};

std::int64_t ReplyInt(const redisReply* r) {
  if (r == nullptr) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) {
    std::int64_t v = 0;
    std::from_chars(r->str, r->str + r->len, v);
    return v;
  }
  return 0;
}

class RedisCounters final : public CounterStore {
 public:
  explicit RedisCounters(redis::RedisPresenceOptions options)
      : options_(std::move(options)), fallback_(MakeMemoryCounters()) {}
  ~RedisCounters() override {
    if (ctx_ != nullptr) redisFree(ctx_);
  }

  absl::StatusOr<Failures> Get(const std::string& key) override {
    auto replies = Run({{"HMGET", Key(key), "f", "t"}});
    if (!replies.ok()) return fallback_->Get(key);
    const redisReply* r = (*replies)[0].get();
    Failures f;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
      f.count = ReplyInt(r->element[0]);
      f.last_ms = ReplyInt(r->element[1]);
    }
    return f;
  }

  absl::StatusOr<Failures> AddFailure(const std::string& key, TimeMs now, TimeMs keep_ms) override {
    const std::string k = Key(key);
    auto replies = Run({{"HINCRBY", k, "f", "1"},
                        {"HSET", k, "t", std::to_string(now)},
                        {"PEXPIRE", k, std::to_string(keep_ms)}});
    if (!replies.ok()) return fallback_->AddFailure(key, now, keep_ms);
    return Failures{ReplyInt((*replies)[0].get()), now};
  }

  absl::Status Reset(const std::string& key) override {
    auto replies = Run({{"DEL", Key(key)}});
    if (!replies.ok()) return fallback_->Reset(key);
    return fallback_->Reset(key);
  }

  absl::StatusOr<Window> Hit(const std::string& key, TimeMs now, TimeMs window_ms) override {
    const std::string k = Key(key);
    auto replies = Run({{"SET", k, "0", "PX", std::to_string(window_ms), "NX"},
                        {"INCR", k},
                        {"PTTL", k}});
    if (!replies.ok()) return fallback_->Hit(key, now, window_ms);
    const std::int64_t left = ReplyInt((*replies)[2].get());
    return Window{ReplyInt((*replies)[1].get()), left > 0 ? left : window_ms};
  }

 private:
  std::string Key(const std::string& key) const {
    return absl::StrCat(options_.key_prefix, "courier:throttle:", key);
  }

  // Runs `commands` as one pipeline; an error drops the connection (a
  // reconnect is tried at most once a second) and is logged once.
  absl::StatusOr<std::vector<ReplyPtr>> Run(const std::vector<std::vector<std::string>>& commands) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ctx_ == nullptr) {
      const auto now = std::chrono::steady_clock::now();
      if (now < next_connect_) return absl::UnavailableError("redis: reconnect pending");
      next_connect_ = now + std::chrono::seconds(1);
      if (absl::Status s = Connect(); !s.ok()) return Down(s);
    }
    for (const auto& c : commands) {
      Argv a(c);
      redisAppendCommandArgv(ctx_, a.argc(), a.argv.data(), a.lens.data());
    }
    std::vector<ReplyPtr> out;
    for (std::size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
        absl::Status s = absl::UnavailableError(
            absl::StrCat("redis: ", ctx_->errstr[0] ? ctx_->errstr : "no reply"));
        redisFree(ctx_);
        ctx_ = nullptr;
        return Down(s);
      }
      out.emplace_back(static_cast<redisReply*>(raw));
      if (out.back()->type == REDIS_REPLY_ERROR) {
        // Read the rest of the pipeline, then report.
        for (std::size_t j = i + 1; j < commands.size(); ++j) {
          void* rest = nullptr;
          if (redisGetReply(ctx_, &rest) == REDIS_OK && rest != nullptr) {
            freeReplyObject(rest);
          }
        }
        return Down(absl::InternalError(absl::StrCat("redis: ", out.back()->str)));
      }
    }
    if (down_) {
      down_ = false;
      spdlog::info("event=throttle_redis_up message=\"login throttle counters back in Redis\"");
    }
    return out;
  }

  absl::Status Down(absl::Status s) {
    if (!down_) {
      down_ = true;
      spdlog::warn("event=throttle_redis_down error=\"{}\" message=\"login throttle counters "
                   "kept in this process until Redis answers\"",
                   std::string(s.message()));
    }
    return s;
  }

  absl::Status Connect() {
    timeval tv{};
    tv.tv_sec = options_.connect_timeout_ms / 1000;
    tv.tv_usec = static_cast<suseconds_t>((options_.connect_timeout_ms % 1000) * 1000);
    ctx_ = redisConnectWithTimeout(options_.host.c_str(), options_.port, tv);
    if (ctx_ == nullptr || ctx_->err != 0) {
      absl::Status s = absl::UnavailableError(
          absl::StrCat("redis: ", ctx_ != nullptr ? ctx_->errstr : "out of memory"));
      if (ctx_ != nullptr) redisFree(ctx_);
      ctx_ = nullptr;
      return s;
    }
    timeval ctv{};
    ctv.tv_sec = options_.command_timeout_ms / 1000;
    ctv.tv_usec = static_cast<suseconds_t>((options_.command_timeout_ms % 1000) * 1000);
    redisSetTimeout(ctx_, ctv);
    std::vector<std::vector<std::string>> setup;
    if (!options_.password.empty()) {
      if (options_.username.empty()) {
        setup.push_back({"AUTH", options_.password});
      } else {
        setup.push_back({"AUTH", options_.username, options_.password});
      }
    }
    if (options_.db != 0) setup.push_back({"SELECT", std::to_string(options_.db)});
    for (const auto& c : setup) {
      Argv a(c);
      ReplyPtr r(static_cast<redisReply*>(
          redisCommandArgv(ctx_, a.argc(), a.argv.data(), a.lens.data())));
      if (r == nullptr || r->type == REDIS_REPLY_ERROR) {
        redisFree(ctx_);
        ctx_ = nullptr;
        return absl::UnavailableError("redis: AUTH or SELECT failed");
      }
    }
    return absl::OkStatus();
  }

  const redis::RedisPresenceOptions options_;
  const std::unique_ptr<CounterStore> fallback_;
  std::mutex mu_;
  redisContext* ctx_ = nullptr;
  bool down_ = false;
  std::chrono::steady_clock::time_point next_connect_{};
};

#endif  // COURIER_SERVER_WITH_REDIS

}  // namespace

std::unique_ptr<CounterStore> MakeMemoryCounters(std::size_t max_keys) {
  return std::make_unique<MemoryCounters>(max_keys);
}

absl::StatusOr<std::unique_ptr<CounterStore>> MakeRedisCounters(const std::string& redis_url) {
#ifdef COURIER_SERVER_WITH_REDIS
  absl::StatusOr<redis::RedisPresenceOptions> options = redis::RedisOptionsFromUrl(redis_url);
  if (!options.ok()) return options.status();
  return std::unique_ptr<CounterStore>(std::make_unique<RedisCounters>(*std::move(options)));
#else
  (void)redis_url;
  return absl::FailedPreconditionError(
      "login throttle counters in Redis need courier-server built with hiredis");
#endif
}

TimeMs ThrottleDelayMs(const ThrottlePolicy& policy, std::int64_t failures, std::int64_t free) {
  if (failures < free) return 0;
  const std::int64_t shift = std::min<std::int64_t>(failures - free, 40);
  const double d = static_cast<double>(policy.base_delay_ms) * static_cast<double>(1LL << shift);
  return d >= static_cast<double>(policy.max_delay_ms) ? policy.max_delay_ms
                                                       : static_cast<TimeMs>(d);
}

std::string ClientAddress(std::string_view remote) {
  if (!remote.empty() && remote.front() == '[') {
    const std::size_t close = remote.find(']');
    if (close != std::string_view::npos) return std::string(remote.substr(1, close - 1));
  }
  const std::size_t colon = remote.rfind(':');
  if (colon == std::string_view::npos || remote.find(':') != colon) return std::string(remote);
  return std::string(remote.substr(0, colon));
}

absl::Status LoginThrottle::Blocked(const std::string& key, std::int64_t free,
                                    std::string_view what) {
  absl::StatusOr<CounterStore::Failures> f = counters_->Get(key);
  if (!f.ok()) {
    spdlog::warn("event=throttle_error key={} error=\"{}\"", key, std::string(f.status().message()));
    return absl::OkStatus();
  }
  const TimeMs delay = ThrottleDelayMs(policy_, f->count, free);
  const TimeMs now = clock_.NowMs();
  if (delay == 0 || now >= f->last_ms + delay) return absl::OkStatus();
  const TimeMs wait = f->last_ms + delay - now;
  return WithHttpDetail(
      absl::ResourceExhaustedError(absl::StrCat(
          "too many failed logins for this ", absl::string_view(what.data(), what.size()), "; retry in ", (wait + 999) / 1000, " s")),
      "throttled", wait);
}

bool IsLoopback(std::string_view address) {
  return address.starts_with("127.") || address == "::1" || address.starts_with("::ffff:127.");
}

absl::Status LoginThrottle::CheckLogin(const std::string& user, const std::string& address) {
  if (LimitAddress(address)) {
    if (absl::Status s = Blocked("addr:" + address, policy_.free_failures_per_address, "address");
        !s.ok()) {
      return s;
    }
  }
  if (ValidateName("user", user).ok()) {
    return Blocked("user:" + user, policy_.free_failures, "account");
  }
  return absl::OkStatus();
}

void LoginThrottle::LoginFailed(const std::string& user, const std::string& address) {
  const TimeMs now = clock_.NowMs();
  const TimeMs keep = std::max(policy_.forget_after_ms, policy_.max_delay_ms);
  if (LimitAddress(address)) {
    if (auto f = counters_->AddFailure("addr:" + address, now, keep); !f.ok()) {
      spdlog::warn("event=throttle_error error=\"{}\"", std::string(f.status().message()));
    }
  }
  if (ValidateName("user", user).ok()) {
    absl::StatusOr<CounterStore::Failures> f = counters_->AddFailure("user:" + user, now, keep);
    if (f.ok() && f->count == policy_.free_failures) {
      spdlog::warn("event=login_throttled user={} address={} failures={}", user, address,
                   f->count);
    }
  }
}

void LoginThrottle::LoginSucceeded(const std::string& user) {
  if (absl::Status s = counters_->Reset("user:" + user); !s.ok()) {
    spdlog::warn("event=throttle_error error=\"{}\"", std::string(s.message()));
  }
}

absl::Status LoginThrottle::CheckRegistration(const std::string& address) {
  if (!LimitAddress(address)) return absl::OkStatus();
  absl::StatusOr<CounterStore::Window> w =
      counters_->Hit("reg:" + address, clock_.NowMs(), policy_.registration_window_ms);
  if (!w.ok()) return absl::OkStatus();
  if (w->count <= policy_.registrations) return absl::OkStatus();
  return WithHttpDetail(
      absl::ResourceExhaustedError(absl::StrCat("too many registrations from this address; retry in ",
                                                (w->left_ms + 999) / 1000, " s")),
      "throttled", w->left_ms);
}

}  // namespace courier::server
