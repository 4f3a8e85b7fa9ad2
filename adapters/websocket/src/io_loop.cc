// io_loop.cc: an io thread's loop, its executor and its mailbox.
#include "io_loop.h"

#include <pthread.h>

#include <boost/asio/post.hpp>

namespace courier::websocket::internal {
namespace {

// Handlers of internal linkage, so that their Asio instantiations stay out
// of the library's exported symbols (tests/consumer checks).
struct RunTask {
  Executor::Task task;
  void operator()() { std::move(task)(); }
};
struct DrainTask {
  IoLoop* loop;
  void operator()() const { loop->OnDrainTask(); }
};

}  // namespace

// Posts to the loop until it closes; then destroys tasks unrun.
class IoLoop::LoopExecutor final : public Executor {
 public:
  explicit LoopExecutor(boost::asio::io_context& io) : io_(io) {}

  void Post(Task task) override {
    absl::ReaderMutexLock lock(&mu_);
    if (closed_) return;  // `task` is destroyed unrun
    boost::asio::post(io_, RunTask{std::move(task)});
  }

  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  boost::asio::io_context& io_;
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

namespace {
thread_local const IoLoop* running_loop = nullptr;
}  // namespace

IoLoop::IoLoop(ServerContext& context)
    : context_(context),
      io_(std::make_unique<boost::asio::io_context>(1)),
      deadlines_(*io_),
      readiness_(*io_),
      impl_(std::make_shared<LoopExecutor>(*io_)),
      executor_(impl_) {}

IoLoop::~IoLoop() { Destroy(); }

void IoLoop::Run() {
  running_loop = this;
  // Named for top -H, perf and courier-load's per-thread breakdown.
  pthread_setname_np(pthread_self(), "courier-io");
  io_->run();
  running_loop = nullptr;
}

bool IoLoop::OnThisThread() const { return running_loop == this; }

void IoLoop::Deliver(std::weak_ptr<Outbox> outbox, EncodedFrames frames) {
  Add(Delivery{std::move(outbox), std::move(frames), std::nullopt});
}

void IoLoop::DeliverClose(std::weak_ptr<Outbox> outbox, std::uint16_t code, std::string reason) {
  Add(Delivery{std::move(outbox), {}, std::make_pair(code, std::move(reason))});
}

void IoLoop::Add(Delivery d) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  mailbox_.push_back(std::move(d));
  has_mail_.store(true, std::memory_order_release);
  if (!drain_posted_) {
    drain_posted_ = true;
    // Under the lock: Close() takes it before the io_context stops.
    boost::asio::post(*io_, DrainTask{this});
  }
}

void IoLoop::OnDrainTask() {
  {
    absl::MutexLock lock(&mu_);
    drain_posted_ = false;
  }
  DrainMailbox();
}

void IoLoop::DrainMailbox() {
  // Not re-entered: handing frames to a connection never sends.
  std::vector<Delivery> batch;
  {
    absl::MutexLock lock(&mu_);
    batch.swap(mailbox_);
    has_mail_.store(false, std::memory_order_release);
  }
  for (Delivery& d : batch) {
    std::shared_ptr<Outbox> outbox = d.outbox.lock();
    if (outbox == nullptr) continue;
    if (d.frames.frames > 0) outbox->QueueEncoded(std::move(d.frames));
    if (d.close.has_value()) outbox->CloseNow(d.close->first, d.close->second);
  }
}

void IoLoop::Close() {
  impl_->Close();
  std::vector<Delivery> dropped;
  absl::MutexLock lock(&mu_);
  closed_ = true;
  dropped.swap(mailbox_);
  has_mail_.store(false, std::memory_order_release);
}

void IoLoop::Destroy() {
  deadlines_.Shutdown();  // its timer goes before the io_context
  readiness_.Shutdown();  // its waiting connections and its watch, likewise
  io_.reset();
}

}  // namespace courier::websocket::internal

