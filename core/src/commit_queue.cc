#include "commit_queue.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "counter.h"

namespace courier::internal {

namespace {
// The body as the sender gave it (before a store's Prepare sealed it), so
// that max_batch_bytes means the same with or without encryption at rest.
template <typename Op>
std::size_t SentBodyBytes(const Op& op) {
  return op.plaintext.has_value() ? op.plaintext->size() : op.body.size();
}

std::size_t BodyBytes(const WriteOp& op) {
  if (const auto* append = std::get_if<AppendOp>(&op)) return SentBodyBytes(*append);
  if (const auto* group = std::get_if<GroupSendOp>(&op)) return SentBodyBytes(*group);
  return 0;
}
}  // namespace

// What waits for an op's result (the op itself is in `ops`, same index).
struct CommitQueue::Waiter {
  Done done;
  std::shared_ptr<Executor> lane;
};

// A completion waiting in its lane.
struct Completion {
  CommitQueue::Done done;
  absl::StatusOr<WriteResult> result;
  std::uint64_t batch = 0;  // the written batch it belongs to
};

// A routed event waiting in its target's lane.
struct RoutedEvent {
  std::shared_ptr<void> target;
  Event event;
  std::uint64_t batch = 0;  // the written batch it belongs to
};

// The completions bound for one executor.
struct CommitQueue::Lane {
  Lane(Executor* e, std::shared_ptr<Executor> k) : executor(e), keep(std::move(k)) {}
  Executor* const executor;
  const std::shared_ptr<Executor> keep;  // null for the completion executor
  // Guarded by State::mu (a lane is always used with its state's lock).
  std::vector<Completion> pending;
  std::vector<Completion> spare;  // a drained `pending`, kept for its capacity
  std::vector<RoutedEvent> routed;  // delivered after `pending`'s completions
  std::vector<RoutedEvent> routed_spare;
  bool draining = false;  // a lane task is posted or running
  bool dead = false;      // its executor dropped a task: use the default lane
};

struct CommitQueue::State {
  State(MessageStore& s, Executor& e, Executor& c, std::size_t m, std::size_t b, int a)
      : store(s),
        stages(s.StagesWrites()),
        executor(e),
        completion(c),
        max_batch(m == 0 ? 1 : m),
        max_batch_bytes(b),
        max_write_attempts(a), default_lane(&c, nullptr) {}

  using Waiter = CommitQueue::Waiter;

  // A batch the store staged (MessageStore::WriteStaged), waiting for its
  // sync.
  struct Staged {
    MessageStore::StagedWrite write;
    std::vector<Waiter> waiters;
    std::chrono::steady_clock::time_point start;
  };

  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return ops.empty() && !flushing && unfinished.empty() && staged.empty() && !syncing;
  }
  // Whether the next batch may be written now (see kMaxUncompleted and
  // kMaxStaged).
  bool MayFlush() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return unfinished.size() < kMaxUncompleted && staged.size() < kMaxStaged;
  }

  // The lane for `where` (null: the completion executor's).
  Lane* LaneFor(const std::shared_ptr<Executor>& where) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (where == nullptr || where.get() == &completion) return &default_lane;
    std::unique_ptr<Lane>& slot = lanes[where.get()];
    if (slot == nullptr) slot = std::make_unique<Lane>(where.get(), where);
    return slot->dead ? &default_lane : slot.get();
  }

  MessageStore& store;
  const bool stages;  // store.StagesWrites()
  Executor& executor;
  Executor& completion;
  const std::size_t max_batch;
  const std::size_t max_batch_bytes;
  const int max_write_attempts;
  AfterFlush after_flush;
  Router router;
  Deliver deliver = nullptr;

  Mutex mu;
  // The queue: ops and their waiters, index by index. Flush swaps them out
  // whole when a batch takes everything (the usual case), so their buffers
  // are reused from batch to batch instead of allocated per op.
  std::vector<WriteOp> ops ABSL_GUARDED_BY(mu);
  std::vector<Waiter> waiters ABSL_GUARDED_BY(mu);
  // The batch being written, only touched by the flush task.
  std::vector<WriteOp> batch_ops;
  std::vector<Waiter> batch_waiters;
  bool flushing ABSL_GUARDED_BY(mu) = false;
  // A flush is due but kMaxUncompleted batches wait for completions: the
  // lane task that finishes one posts it (`flushing` stays true).
  bool flush_parked ABSL_GUARDED_BY(mu) = false;
  bool abandoned ABSL_GUARDED_BY(mu) = false;
  Lane default_lane;  // the completion executor's
  absl::flat_hash_map<Executor*, std::unique_ptr<Lane>> lanes ABSL_GUARDED_BY(mu);
  // Written batch -> its completions not run yet.
  absl::flat_hash_map<std::uint64_t, std::size_t> unfinished ABSL_GUARDED_BY(mu);
  std::uint64_t next_batch ABSL_GUARDED_BY(mu) = 0;
  // Staged batches waiting for the sync task, oldest first.
  std::deque<Staged> staged ABSL_GUARDED_BY(mu);
  bool syncing ABSL_GUARDED_BY(mu) = false;  // a sync task is posted or running
  CondVar idle;  // signalled when Idle() may have become true

  Counter commits;
  Counter op_count;
  Counter latency_us;
  Counter reruns;

  // Store busy time: the wall time during which at least one batch is
  // between its Write or WriteStaged and its results (with staged writes
  // batches overlap, and latency_us counts the overlap twice).
  void BatchBegins(std::chrono::steady_clock::time_point at) {
    MutexLock lock(&busy_mu);
    if (in_flight++ == 0) busy_since = at;
  }
  void BatchEnds(std::chrono::steady_clock::time_point at) {
    MutexLock lock(&busy_mu);
    if (--in_flight == 0) {
      busy_us.Add(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(at - busy_since).count()));
    }
  }
  Mutex busy_mu;
  std::size_t in_flight ABSL_GUARDED_BY(busy_mu) = 0;
  std::chrono::steady_clock::time_point busy_since ABSL_GUARDED_BY(busy_mu);
  Counter busy_us;
};

// The task a lane posts: runs the lane, or, destroyed unrun (its executor
// gone), moves the lane's completions to the default lane.
class CommitQueue::LaneTicket {
 public:
  LaneTicket(std::shared_ptr<State> state, Lane* lane) : state_(std::move(state)), lane_(lane) {}
  LaneTicket(LaneTicket&& other) noexcept
      : state_(std::move(other.state_)), lane_(other.lane_) {}
  LaneTicket& operator=(LaneTicket&&) = delete;
  ~LaneTicket() {
    if (state_ != nullptr) Reroute(state_, lane_);
  }
  void operator()() && {
    std::shared_ptr<State> state = std::move(state_);
    Drain(state, lane_);
  }

 private:
  std::shared_ptr<State> state_;
  Lane* lane_;
};

CommitQueue::CommitQueue(MessageStore& store, Executor& commit, Executor& completion,
                         std::size_t max_batch, std::size_t max_batch_bytes,
                         int max_write_attempts)
    : state_(std::make_shared<State>(store, commit, completion, max_batch, max_batch_bytes,
                                     max_write_attempts)) {}

CommitQueue::~CommitQueue() { Abandon(); }

void CommitQueue::set_after_flush(AfterFlush f) { state_->after_flush = std::move(f); }

void CommitQueue::set_router(Router route, Deliver deliver) {
  state_->router = std::move(route);
  state_->deliver = deliver;
}

void CommitQueue::Submit(WriteOp op, Done done, std::shared_ptr<Executor> lane) {
  bool post = false;
  {
    MutexLock lock(&state_->mu);
    if (state_->abandoned) return;  // `done` is destroyed unrun
    state_->ops.push_back(std::move(op));
    state_->waiters.push_back(State::Waiter{std::move(done), std::move(lane)});
    if (!state_->flushing) {
      state_->flushing = true;
      post = true;
    }
  }
  if (post) state_->executor.Post([state = state_] { Flush(state); });
}

void CommitQueue::Flush(const std::shared_ptr<State>& state) {
  // Only the one flush task touches these (`flushing`), so no lock.
  std::vector<WriteOp>& ops = state->batch_ops;
  std::vector<State::Waiter>& waiters = state->batch_waiters;
  {
    MutexLock lock(&state->mu);
    if (state->abandoned) {
      state->flushing = false;
      state->idle.SignalAll();
      return;
    }
    if (!state->MayFlush()) {
      state->flush_parked = true;  // a lane task or the sync task posts it again
      return;
    }
    const std::size_t limit = std::min(state->max_batch, state->ops.size());
    std::size_t n = 0;
    std::size_t bytes = 0;
    for (; n < limit; ++n) {
      const std::size_t b = BodyBytes(state->ops[n]);
      if (n > 0 && bytes + b > state->max_batch_bytes) break;
      bytes += b;
    }
    if (n == state->ops.size()) {
      ops.swap(state->ops);  // the queue gets the last batch's (empty) buffers
      waiters.swap(state->waiters);
    } else {
      ops.reserve(n);
      waiters.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        ops.push_back(std::move(state->ops[i]));
        waiters.push_back(std::move(state->waiters[i]));
      }
      state->ops.erase(state->ops.begin(), state->ops.begin() + static_cast<std::ptrdiff_t>(n));
      state->waiters.erase(state->waiters.begin(),
                           state->waiters.begin() + static_cast<std::ptrdiff_t>(n));
    }
  }
  if (!ops.empty() && state->stages) {
    Stage(state, ops, waiters);
  } else if (!ops.empty()) {
    const auto start = std::chrono::steady_clock::now();
    state->BatchBegins(start);
    std::uint64_t reruns = 0;
    std::vector<absl::StatusOr<WriteResult>> results =
        WriteRetryingConflicts(state->store, ops, state->max_write_attempts, &reruns);
    state->reruns.Add(reruns);
    Hand(state, start, waiters, results);
  }
  ops.clear();  // keeps the buffers for the next batch
  waiters.clear();
  bool again = false;
  {
    MutexLock lock(&state->mu);
    if (state->ops.empty() || state->abandoned) {
      state->flushing = false;
      state->idle.SignalAll();
    } else {
      again = true;
    }
  }
  if (again) state->executor.Post([state] { Flush(state); });
}

// Counts a written batch and sorts its completions into their lanes; one
// task per lane that was idle. (After Abandon nothing is sorted: the caller
// destroys the waiters, outside the lock.)
void CommitQueue::Hand(const std::shared_ptr<State>& state,
                       std::chrono::steady_clock::time_point start,
                       std::vector<Waiter>& waiters,
                       std::vector<absl::StatusOr<WriteResult>>& results) {
  const auto now = std::chrono::steady_clock::now();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - start).count();
  state->latency_us.Add(static_cast<std::uint64_t>(us));
  state->BatchEnds(now);
  state->commits.Add();
  state->op_count.Add(waiters.size());
  if (results.size() != waiters.size()) {
    results.assign(waiters.size(),
                   absl::InternalError("store returned a result count unlike its batch"));
  }
  // Outside the lock: the router looks sessions up under their own locks.
  std::vector<Routed> routed;
  if (state->router) state->router(results, routed);
  std::vector<Lane*> to_post;
  {
    MutexLock lock(&state->mu);
    if (!state->abandoned) {
      const std::uint64_t id = state->next_batch++;
      state->unfinished[id] = waiters.size() + routed.size();
      const auto add = [&](Lane* lane) {
        if (!lane->draining) {
          lane->draining = true;
          to_post.push_back(lane);
        }
      };
      for (std::size_t i = 0; i < waiters.size(); ++i) {
        Lane* lane = state->LaneFor(waiters[i].lane);
        lane->pending.push_back(Completion{std::move(waiters[i].done), std::move(results[i]), id});
        add(lane);
      }
      for (Routed& r : routed) {
        Lane* lane = state->LaneFor(r.lane);
        lane->routed.push_back(RoutedEvent{std::move(r.target), std::move(r.event), id});
        add(lane);
      }
    }
  }
  // After Abandon the routed events die here, outside the lock (their
  // targets may be the last references to sessions).
  routed.clear();
  for (Lane* lane : to_post) lane->executor->Post(LaneTicket(state, lane));
}

// The flush task's part of a staged write: the store applies the batch, and
// the batch joins the queue of the sync task (posted when none runs).
void CommitQueue::Stage(const std::shared_ptr<State>& state, std::vector<WriteOp>& ops,
                        std::vector<Waiter>& waiters) {
  State::Staged staged;
  staged.start = std::chrono::steady_clock::now();
  state->BatchBegins(staged.start);
  staged.write = state->store.WriteStaged(ops);
  staged.waiters = std::move(waiters);
  waiters.clear();  // moved from: empty again, for the next batch
  bool post = false;
  {
    MutexLock lock(&state->mu);
    if (!state->abandoned) {
      state->staged.push_back(std::move(staged));
      if (!state->syncing) {
        state->syncing = true;
        post = true;
      }
    }
  }
  // After Abandon the batch's waiters die here, unrun, outside the lock.
  if (post) state->executor.Post([state] { SyncStaged(state); });
}

// The sync task: waits for the staged batches' durability, oldest first,
// and hands each one's completions to their lanes. It runs until none is
// left, so batches staged meanwhile need no task of their own.
void CommitQueue::SyncStaged(const std::shared_ptr<State>& state) {
  while (true) {
    State::Staged batch;
    {
      MutexLock lock(&state->mu);
      if (state->abandoned || state->staged.empty()) {
        state->syncing = false;
        state->idle.SignalAll();
        return;
      }
      batch = std::move(state->staged.front());
      state->staged.pop_front();
    }
    const absl::Status synced =
        batch.write.sync != nullptr ? batch.write.sync->Sync() : absl::OkStatus();
    std::vector<absl::StatusOr<WriteResult>> results =
        ResultsAfterSync(std::move(batch.write), synced);
    Hand(state, batch.start, batch.waiters, results);
    bool post_flush = false;
    {
      MutexLock lock(&state->mu);
      if (state->flush_parked && state->MayFlush()) {
        state->flush_parked = false;
        post_flush = true;
      }
    }
    if (post_flush) state->executor.Post([state] { Flush(state); });
  }
}

// Runs what the lane holds, then re-posts itself while more came meanwhile
// (one round per task, so the executor's other work interleaves).
void CommitQueue::Drain(const std::shared_ptr<State>& state, Lane* lane) {
  std::vector<Completion> run;
  std::vector<RoutedEvent> events;
  {
    MutexLock lock(&state->mu);
    if (state->abandoned || (lane->pending.empty() && lane->routed.empty())) {
      lane->draining = false;
      state->idle.SignalAll();
      return;
    }
    run.swap(lane->pending);
    lane->pending.swap(lane->spare);  // an empty buffer with capacity, if any
    events.swap(lane->routed);
    lane->routed.swap(lane->routed_spare);
  }
  for (Completion& c : run) std::move(c.done)(std::move(c.result));
  for (const RoutedEvent& e : events) state->deliver(e.target.get(), e.event);
  if (state->after_flush) state->after_flush();
  // The captures and targets go here, outside the lock, and only after
  // after_flush: they may hold the last references to sessions and,
  // through them, to the engine that after_flush calls.
  for (Completion& c : run) c.done = nullptr;
  for (RoutedEvent& e : events) e.target.reset();
  bool post_flush = false;
  bool again = false;
  {
    MutexLock lock(&state->mu);
    const auto finished = [&](std::uint64_t batch) {
      auto it = state->unfinished.find(batch);
      if (it != state->unfinished.end() && --it->second == 0) state->unfinished.erase(it);
    };
    for (const Completion& c : run) finished(c.batch);
    for (const RoutedEvent& e : events) finished(e.batch);
    if (state->flush_parked && state->MayFlush()) {
      state->flush_parked = false;
      post_flush = true;
    }
    if (state->abandoned || (lane->pending.empty() && lane->routed.empty())) {
      lane->draining = false;
    } else {
      again = true;
    }
    run.clear();  // only spent completions: their captures are gone already
    if (lane->spare.capacity() < run.capacity()) lane->spare.swap(run);
    events.clear();  // targets reset above; the events' strings go here
    if (lane->routed_spare.capacity() < events.capacity()) lane->routed_spare.swap(events);
    state->idle.SignalAll();
  }
  if (post_flush) state->executor.Post([state] { Flush(state); });
  if (again) lane->executor->Post(LaneTicket(state, lane));
}

// A lane task was destroyed unrun: its executor is gone. The lane's
// completions (and later ones) go to the default lane.
void CommitQueue::Reroute(const std::shared_ptr<State>& state, Lane* lane) {
  bool post = false;
  {
    MutexLock lock(&state->mu);
    lane->draining = false;
    if (state->abandoned || lane == &state->default_lane) {
      state->idle.SignalAll();
      return;
    }
    lane->dead = true;
    Lane& fallback = state->default_lane;
    for (Completion& c : lane->pending) fallback.pending.push_back(std::move(c));
    lane->pending.clear();
    for (RoutedEvent& e : lane->routed) fallback.routed.push_back(std::move(e));
    lane->routed.clear();
    if ((!fallback.pending.empty() || !fallback.routed.empty()) && !fallback.draining) {
      fallback.draining = true;
      post = true;
    }
  }
  if (post) state->completion.Post(LaneTicket(state, &state->default_lane));
}

void CommitQueue::WaitIdle() {
  MutexLock lock(&state_->mu);
  while (!state_->Idle()) state_->idle.Wait(&state_->mu);
}

void CommitQueue::Abandon() {
  std::vector<WriteOp> dropped;
  std::vector<State::Waiter> dropped_waiters;
  std::vector<std::vector<Completion>> dropped_completions;
  std::vector<std::vector<RoutedEvent>> dropped_events;
  std::deque<State::Staged> staged_gone;  // its waiters moved to dropped_waiters
  {
    MutexLock lock(&state_->mu);
    state_->abandoned = true;
    dropped.swap(state_->ops);
    dropped_waiters.swap(state_->waiters);
    dropped_completions.push_back(std::move(state_->default_lane.pending));
    state_->default_lane.pending.clear();
    dropped_events.push_back(std::move(state_->default_lane.routed));
    state_->default_lane.routed.clear();
    for (auto& [executor, lane] : state_->lanes) {
      dropped_completions.push_back(std::move(lane->pending));
      lane->pending.clear();
      dropped_events.push_back(std::move(lane->routed));
      lane->routed.clear();
    }
    state_->unfinished.clear();
    for (State::Staged& batch : state_->staged) {
      dropped_waiters.insert(dropped_waiters.end(), std::make_move_iterator(batch.waiters.begin()),
                             std::make_move_iterator(batch.waiters.end()));
    }
    staged_gone.swap(state_->staged);
    if (state_->flush_parked) {  // no lane task will post it now
      state_->flush_parked = false;
      state_->flushing = false;
    }
    state_->idle.SignalAll();
  }
  // Completions die here, outside the lock: they may hold the last
  // references to sessions and, through them, to the engine.
}

std::uint64_t CommitQueue::depth() const {
  MutexLock lock(&state_->mu);
  return state_->ops.size();
}
std::uint64_t CommitQueue::commits() const {
  return state_->commits.value();
}
std::uint64_t CommitQueue::committed_ops() const {
  return state_->op_count.value();
}
std::uint64_t CommitQueue::latency_us_total() const {
  return state_->latency_us.value();
}
std::uint64_t CommitQueue::busy_us_total() const {
  return state_->busy_us.value();
}
std::uint64_t CommitQueue::write_reruns() const {
  return state_->reruns.value();
}

}  // namespace courier::internal
