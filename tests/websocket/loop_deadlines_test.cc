// LoopDeadlines: one timer for all the deadlines of a loop's connections.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "loop_deadlines.h"

namespace courier::websocket::internal {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A deadline that records when it fired, and may act then.
class Probe final : public Deadline {
 public:
  explicit Probe(std::vector<int>* fired, int id) : fired_(fired), id_(id) {}
  ~Probe() { REQUIRE_FALSE(armed()); }
  std::function<void()> on_fire;

 private:
  void OnDeadline() override {
    fired_->push_back(id_);
    if (on_fire) on_fire();
  }
  std::vector<int>* fired_;
  int id_;
};

// A loop with three probes armed at `now` + the given milliseconds.
struct ThreeDeadlines {
  boost::asio::io_context io{1};
  LoopDeadlines deadlines{io};
  std::vector<int> fired;
  Probe a{&fired, 1}, b{&fired, 2}, c{&fired, 3};
  const Clock::time_point now = Clock::now();

  void Arm(int ms_a, int ms_b, int ms_c) {
    deadlines.Arm(c, now + milliseconds(ms_c));
    deadlines.Arm(a, now + milliseconds(ms_a));
    deadlines.Arm(b, now + milliseconds(ms_b));
  }
};

TEST_CASE_METHOD(ThreeDeadlines, "LoopDeadlines fires deadlines in time order, each once",
                 "[websocket]") {
  Arm(10, 20, 30);
  CHECK(deadlines.size() == 3);
  io.run();
  CHECK(fired == std::vector<int>{1, 2, 3});
  CHECK(deadlines.size() == 0);
  CHECK(deadlines.heap_capacity_bytes() == 0);  // an empty heap holds no array
  CHECK(Clock::now() >= now + milliseconds(30));
}

TEST_CASE_METHOD(ThreeDeadlines,
                 "LoopDeadlines: a cancelled deadline does not fire, a re-armed one fires at its "
                 "new time",
                 "[websocket]") {
  Arm(5, 10, 15);
  deadlines.Cancel(a);  // the earliest goes: the timer fires early and waits again
  deadlines.Arm(b, now + milliseconds(40));  // later
  deadlines.Cancel(a);                       // (not armed: nothing)
  CHECK_FALSE(a.armed());
  io.run();
  CHECK(fired == std::vector<int>{3, 2});
  CHECK(Clock::now() >= now + milliseconds(40));
}

TEST_CASE("LoopDeadlines: a deadline set earlier than the timer's wait fires first", "[websocket]") {
  boost::asio::io_context io(1);
  LoopDeadlines deadlines(io);
  std::vector<int> fired;
  Probe a(&fired, 1), b(&fired, 2);
  const Clock::time_point now = Clock::now();
  deadlines.Arm(a, now + milliseconds(500));
  deadlines.Arm(b, now + milliseconds(5));
  b.on_fire = [&] { deadlines.Cancel(a); };  // what fires may change the others
  io.run();
  CHECK(fired == std::vector<int>{2});
  CHECK(Clock::now() < now + milliseconds(400));
}

TEST_CASE("LoopDeadlines: what fires may arm itself again (the idle deadline moving on)",
          "[websocket]") {
  boost::asio::io_context io(1);
  LoopDeadlines deadlines(io);
  std::vector<int> fired;
  Probe a(&fired, 1);
  int rounds = 0;
  a.on_fire = [&] {
    if (++rounds < 3) deadlines.Arm(a, Clock::now() + milliseconds(2));
  };
  deadlines.Arm(a, Clock::now() + milliseconds(2));
  io.run();
  CHECK(fired == std::vector<int>{1, 1, 1});
}

TEST_CASE("LoopDeadlines keeps the heap order over many arms and cancels", "[websocket]") {
  boost::asio::io_context io(1);
  LoopDeadlines deadlines(io);
  std::vector<int> fired;
  std::vector<std::unique_ptr<Probe>> probes;
  std::vector<Clock::time_point> when(300);
  std::mt19937 rng(13);
  const Clock::time_point now = Clock::now();
  for (int i = 0; i < 300; ++i) {
    probes.push_back(std::make_unique<Probe>(&fired, i));
    when[i] = now + milliseconds(1 + rng() % 40);
    deadlines.Arm(*probes.back(), when[i]);
  }
  for (int i = 0; i < 300; i += 3) deadlines.Cancel(*probes[i]);  // every third goes
  for (int i = 1; i < 300; i += 3) {                             // every third moves
    when[i] = now + milliseconds(1 + rng() % 40);
    deadlines.Arm(*probes[i], when[i]);
  }
  io.run();
  CHECK(fired.size() == 200);
  for (std::size_t k = 1; k < fired.size(); ++k) {
    CHECK(when[fired[k - 1]] <= when[fired[k]]);
    CHECK(fired[k] % 3 != 0);
  }
}

TEST_CASE("LoopDeadlines after Shutdown keeps its heap without a timer", "[websocket]") {
  std::vector<int> fired;
  Probe a(&fired, 1);
  {
    boost::asio::io_context io(1);
    LoopDeadlines deadlines(io);
    deadlines.Arm(a, Clock::now() + milliseconds(1));
    deadlines.Shutdown();  // before the io_context goes
    deadlines.Arm(a, Clock::now() + milliseconds(2));
    CHECK(deadlines.size() == 1);
    io.run_for(milliseconds(20));
    CHECK(fired.empty());
    deadlines.Cancel(a);
  }
}

}  // namespace
}  // namespace courier::websocket::internal
