// A private redis-server for fault tests: started on a chosen loopback port
// in a temp dir, without persistence, killed and restarted at will.
#ifndef COURIER_TESTS_PRESENCE_REDIS_SERVER_H_
#define COURIER_TESTS_PRESENCE_REDIS_SERVER_H_

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

namespace courier::testing {

// Exits 77 (ctest SKIP) when redis-server is not installed.
inline std::string RedisServerBinaryOrSkip(const char* test) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
    std::string path = std::string(dir) + "/redis-server";
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  std::printf("SKIPPED: %s: redis-server not installed\n", test);
  std::fflush(stdout);
  std::_Exit(77);
}

// A loopback port that was free a moment ago.
inline int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

class RedisServer {
 public:
  RedisServer(std::string binary, int port) : binary_(std::move(binary)), port_(port) {
    char tmpl[] = "/tmp/courier-redis-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) dir_ = tmpl;
  }
  ~RedisServer() {
    Kill();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }

  // Starts the server and waits (generously) until it answers PING.
  bool Start() {
    if (dir_.empty()) return false;
    // posix_spawn: the test process has threads, so no work between fork and exec.
    const std::string port = std::to_string(port_);
    const std::string log = dir_ + "/redis.log";
    const char* argv[] = {binary_.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", dir_.c_str(),
                          "--logfile", log.c_str(), nullptr};
    if (posix_spawn(&pid_, binary_.c_str(), nullptr, nullptr, const_cast<char* const*>(argv),
                    environ) != 0) {
      pid_ = -1;
    }
    if (pid_ < 0) return false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Ping()) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // SIGKILL: the server vanishes without closing anything gracefully.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    kill(pid_, SIGCONT);  // a paused process dies only once continued
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // SIGSTOP / SIGCONT: a hung server that still accepts TCP connections.
  void Pause() {
    if (pid_ > 0) kill(pid_, SIGSTOP);
  }
  void Resume() {
    if (pid_ > 0) kill(pid_, SIGCONT);
  }

  bool Ping() const {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeval{1, 0});
    bool ok = false;
    if (c != nullptr && c->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
      ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
      if (reply != nullptr) freeReplyObject(reply);
    }
    if (c != nullptr) redisFree(c);
    return ok;
  }

 private:
  std::string binary_;
  int port_;
  std::string dir_;
  pid_t pid_ = -1;
};

// Reads keys with a plain hiredis connection, as an independent observer.
class RedisProbe {
 public:
  explicit RedisProbe(int port, std::string host = "127.0.0.1")
      : host_(std::move(host)), port_(port) {}
  // HGET key field, or nullopt when absent or unreachable.
  std::optional<std::string> HGet(const std::string& key, const std::string& field) const {
    return Text("HGET", key, field.c_str());
  }
  std::optional<std::string> Get(const std::string& key) const {
    return Text("GET", key, nullptr);
  }
  // PUBLISH channel payload; true when the server answered.
  bool Publish(const std::string& channel, const std::string& payload) const {
    redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, timeval{1, 0});
    bool ok = false;
    if (c != nullptr && c->err == 0) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PUBLISH %b %b", channel.data(),
                                                      channel.size(), payload.data(),
                                                      payload.size()));
      ok = r != nullptr && r->type == REDIS_REPLY_INTEGER;
      if (r != nullptr) freeReplyObject(r);
    }
    if (c != nullptr) redisFree(c);
    return ok;
  }
  bool Exists(const std::string& key) const {
    redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, timeval{1, 0});
    bool exists = false;
    if (c != nullptr && c->err == 0) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "EXISTS %s", key.c_str()));
      exists = r != nullptr && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
      if (r != nullptr) freeReplyObject(r);
    }
    if (c != nullptr) redisFree(c);
    return exists;
  }

 private:
  std::optional<std::string> Text(const char* command, const std::string& key,
                                  const char* field) const {
    redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, timeval{1, 0});
    std::optional<std::string> result;
    if (c != nullptr && c->err == 0) {
      auto* r = static_cast<redisReply*>(
          field != nullptr ? redisCommand(c, "%s %s %s", command, key.c_str(), field)
                           : redisCommand(c, "%s %s", command, key.c_str()));
      if (r != nullptr && r->type == REDIS_REPLY_STRING) result = std::string(r->str, r->len);
      if (r != nullptr) freeReplyObject(r);
    }
    if (c != nullptr) redisFree(c);
    return result;
  }
  std::string host_;
  int port_;
};

// Polls `condition` every 50 ms until it holds or a generous deadline passes.
template <typename F>
bool Eventually(F condition, std::chrono::seconds deadline = std::chrono::seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

}  // namespace courier::testing

#endif  // COURIER_TESTS_PRESENCE_REDIS_SERVER_H_
