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
  accounts_.token_table().AddSession(*claims, std::move(connection));
  absl::MutexLock lock(&mu_);
  urgent_.emplace(claims->user);
}

void RevocationWatcher::Check(const UserId& user) {
  if (!accounts_.token_table().HasSessions(user)) return;
  absl::MutexLock lock(&mu_);
  urgent_.emplace(user);
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
    bool sweep = false;
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
        sweep = true;
      } else {
        users.assign(urgent_.begin(), urgent_.end());
      }
      urgent_.clear();
    }
    // Every user with an open session (the table's lock, not mu_: no
    // lock order between them).
    if (sweep) users = accounts_.token_table().UsersWithSessions();
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
  std::vector<std::shared_ptr<Transport>> to_close =
      accounts_.token_table().TakeRevoked(user, deleted ? nullptr : &*state);
  {
    absl::MutexLock lock(&mu_);
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
