// revocation.cc: one thread, woken by urgent users or by the period.
#include "revocation.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/time/time.h"
#include "cluster_close.h"

namespace courier::server {

RevocationWatcher::RevocationWatcher(Accounts& accounts, std::chrono::milliseconds check_every,
                                     AccountStore* store)
    : accounts_(accounts), store_(store), check_every_(check_every), thread_([this] { Loop(); }) {}

RevocationWatcher::~RevocationWatcher() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void RevocationWatcher::SessionOpened(std::string_view token,
                                      std::weak_ptr<Transport> connection) {
  absl::StatusOr<TokenClaims> claims = accounts_.Claims(token);
  if (!claims.ok()) return;  // the hello already checked it; expired meanwhile
  absl::MutexLock lock(&mu_);
  auto& list = live_[claims->user];
  // Forget connections that are gone, so a reconnecting device does not grow it.
  list.erase(std::remove_if(list.begin(), list.end(),
                            [](const Live& l) { return l.connection.expired(); }),
             list.end());
  urgent_.insert(claims->user);
  list.push_back(Live{claims->generation, NameKey(claims->id), std::move(connection)});
}

void RevocationWatcher::Check(const UserId& user) {
  absl::MutexLock lock(&mu_);
  if (live_.contains(user)) urgent_.insert(user);
}

std::uint64_t RevocationWatcher::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

void RevocationWatcher::Loop() {
  auto next_sweep = std::chrono::steady_clock::now() + check_every_;
  while (true) {
    // NameKeys: a sweep copies every live user (every token_check_ms), and a
    // name of up to 23 bytes is then 24 bytes here, not a std::string and a
    // heap block of its own (bench/README.md, W4).
    std::vector<NameKey> users;
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !urgent_.empty();
      };
      const auto left = next_sweep - std::chrono::steady_clock::now();
      mu_.AwaitWithTimeout(absl::Condition(&wake),
                           absl::FromChrono(std::max(left, decltype(left)::zero())));
      if (stop_) return;
      if (std::chrono::steady_clock::now() >= next_sweep) {
        next_sweep = std::chrono::steady_clock::now() + check_every_;
        absl::erase_if(live_, [](auto& kv) {
          auto& list = kv.second;
          list.erase(std::remove_if(list.begin(), list.end(),
                                    [](const Live& l) { return l.connection.expired(); }),
                     list.end());
          return list.empty();
        });
        users.reserve(live_.size());
        for (const auto& kv : live_) users.push_back(kv.first);
        urgent_.clear();
      } else {
        for (const UserId& user : urgent_) users.emplace_back(user);
        urgent_.clear();
      }
    }
    for (const NameKey& user : users) CheckUser(user.str());
  }
}

void RevocationWatcher::CheckUser(const UserId& user) {
  absl::StatusOr<TokenState> state = accounts_.Refresh(user);
  const bool deleted = absl::IsNotFound(state.status());  // no token of it is valid
  if (!state.ok() && !deleted) {  // the store did not answer: try again at the next sweep
    spdlog::warn("event=revocation_check_failed user={} error=\"{}\"", user,
                 std::string(state.status().message()));
    return;
  }
  std::vector<std::shared_ptr<Transport>> to_close;
  {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(user);
    if (it == live_.end()) return;
    auto& list = it->second;
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const Live& l) {
                                std::shared_ptr<Transport> t = l.connection.lock();
                                if (t == nullptr) return true;
                                if (deleted ||
                                    Accounts::IsRevoked(l.generation, l.token_id, *state)) {
                                  to_close.push_back(std::move(t));
                                  return true;
                                }
                                return false;
                              }),
               list.end());
    if (it->second.empty()) live_.erase(it);
    closed_ += to_close.size();
  }
  if (to_close.empty()) return;
  CloseCode code = CloseCode::kUnauthorized;
  std::string_view reason = "token revoked";
  if (store_ != nullptr) {
    absl::StatusOr<bool> disabled = store_->UserDisabled(user);
    if (disabled.ok() && *disabled) {
      code = static_cast<CloseCode>(kCloseAccountDisabled);
      reason = CloseReasonOf(kCloseAccountDisabled);
    }
  }
  for (const auto& t : to_close) t->Close(code, reason);
  spdlog::info("event=sessions_revoked user={} closed={} code={}", user, to_close.size(),
               static_cast<int>(code));
}

}  // namespace courier::server
