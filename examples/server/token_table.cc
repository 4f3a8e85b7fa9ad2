// token_table.cc: one node map of per-user records under one mutex.
#include "token_table.h"

#include <algorithm>
#include <utility>

namespace courier::server {

bool RevokedBy(std::uint64_t generation, std::string_view token_id,
               std::uint64_t state_generation, const std::vector<std::string>& revoked) {
  if (generation != state_generation) return true;
  return !token_id.empty() &&
         std::binary_search(revoked.begin(), revoked.end(), token_id,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

void TokenTable::Remember(const UserId& user, const TokenState& state) {
  absl::MutexLock lock(&mu_);
  auto it = users_.find(user);
  if (it == users_.end()) {
    if (users_.size() >= kMaxCachedUsers) {
      absl::erase_if(users_, [](auto& kv) {
        ForgetClosed(kv.second);
        return kv.second.sessions.empty();
      });
    }
    it = users_.try_emplace(user).first;
  } else if (it->second.generation != Record::kUnknown &&
             state.generation < it->second.generation) {
    return;  // never let an older read undo a newer one
  }
  Record& r = it->second;
  r.generation = state.generation;
  r.revoked = state.revoked.empty()
                  ? nullptr
                  : std::make_unique<const std::vector<std::string>>(state.revoked);
}

bool TokenTable::KnownRevoked(const TokenClaims& claims) const {
  static const std::vector<std::string> kNone;
  absl::MutexLock lock(&mu_);
  auto it = users_.find(claims.user);
  if (it == users_.end()) return false;
  const Record& r = it->second;
  if (r.generation == Record::kUnknown || claims.generation > r.generation) return false;
  return RevokedBy(claims.generation, claims.id, r.generation,
                   r.revoked != nullptr ? *r.revoked : kNone);
}

std::size_t TokenTable::size() const {
  absl::MutexLock lock(&mu_);
  return users_.size();
}

void TokenTable::ForgetClosed(Record& record) {
  auto& s = record.sessions;
  s.erase(std::remove_if(s.begin(), s.end(),
                         [](const Session& l) { return l.connection.expired(); }),
          s.end());
}

void TokenTable::AddSession(const TokenClaims& claims, std::weak_ptr<Transport> connection) {
  absl::MutexLock lock(&mu_);
  Record& r = users_[claims.user];
  ForgetClosed(r);  // so a reconnecting device does not grow it
  r.sessions.push_back(Session{claims.generation, NameKey(claims.id), std::move(connection)});
}

bool TokenTable::HasSessions(const UserId& user) const {
  absl::MutexLock lock(&mu_);
  auto it = users_.find(user);
  return it != users_.end() && !it->second.sessions.empty();
}

std::vector<NameKey> TokenTable::UsersWithSessions() {
  std::vector<NameKey> users;
  absl::MutexLock lock(&mu_);
  for (auto& [user, record] : users_) {
    ForgetClosed(record);
    if (!record.sessions.empty()) users.push_back(user);
  }
  return users;
}

std::vector<std::shared_ptr<Transport>> TokenTable::TakeRevoked(const UserId& user,
                                                                 const TokenState* state) {
  std::vector<std::shared_ptr<Transport>> revoked;
  absl::MutexLock lock(&mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return revoked;
  auto& s = it->second.sessions;
  s.erase(std::remove_if(s.begin(), s.end(),
                         [&](const Session& l) {
                           std::shared_ptr<Transport> t = l.connection.lock();
                           if (t == nullptr) return true;
                           if (state == nullptr || RevokedBy(l.generation, l.token_id.view(),
                                                             state->generation, state->revoked)) {
                             revoked.push_back(std::move(t));
                             return true;
                           }
                           return false;
                         }),
          s.end());
  return revoked;
}

}  // namespace courier::server
