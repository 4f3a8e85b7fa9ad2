// The standard Notifier (courier/notifier.h): a bounded, coalescing table of
// notices (push_queue.h) worked off by one worker thread, which decides who
// is offline through the presence store and sends through a PushSender.
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "courier/clock.h"
#include "courier/notifier.h"
#include "courier/sync.h"
#include "push_queue.h"

namespace courier {
namespace {

// The longest the worker sleeps before it looks at the clock again (a
// ManualClock or a clock step does not wake it).
constexpr TimeMs kMaxWaitMs = 1'000;
// The worker's rounds are at least this far apart: a notice goes out at
// most this much after it is due (hold_ms is seconds), and the notices of
// many users due within it cost the worker one wake-up, not one each.
constexpr TimeMs kRoundGapMs = 50;

class StandardPushNotifier final : public PushNotifier {
 public:
  StandardPushNotifier(const PushNotifierOptions& options, PushNotifierDeps deps)
      : deps_(deps),
        clock_(deps.clock != nullptr ? *deps.clock : SystemClock()),
        queue_(options.max_pending, options.hold_ms, options.content == PushContent::kFull) {
    if (options.start_worker) {
      worker_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "courier-push");
        Loop();
      });
    }
  }

  ~StandardPushNotifier() override { Shutdown(); }

  void OnCommitted(absl::Span<const Appended> appended) override {
    bool wake = false;
    {
      MutexLock lock(&mu_);
      if (stopped_) return;
      const TimeMs now = clock_.NowMs();
      // The worker sleeps until the oldest notice is due (notices are due
      // in the order they open), so only a new oldest one needs to wake it:
      // a notice opened behind others waits its turn anyway. Not one
      // wake-up per committed batch (W1: one per batch with a message).
      const std::optional<TimeMs> due_before = queue_.NextDue();
      for (const Appended& a : appended) {
        // Messages only; and never the sender's own copy of a group message
        // (its peer, the sender, is the inbox's owner).
        if (a.event.kind != EventKind::kMessage || a.event.peer == a.user) continue;
        ++stats_.messages;
        switch (queue_.Add(a.user, a.event, now)) {
          case internal::PushQueue::Offer::kOpened:
            ++stats_.notices;
            break;
          case internal::PushQueue::Offer::kCoalesced:
            ++stats_.coalesced;
            break;
          case internal::PushQueue::Offer::kDropped:
            ++stats_.dropped;
            break;
        }
      }
      wake = queue_.NextDue() != due_before;
    }
    if (wake) wake_.Signal();
  }

  std::size_t RunDue() override {
    std::size_t worked = 0;
    while (true) {
      std::optional<PushNotice> notice;
      {
        MutexLock lock(&mu_);
        if (stopped_) break;
        notice = queue_.TakeDue(clock_.NowMs());
      }
      if (!notice.has_value()) break;
      Work(*notice);
      ++worked;
    }
    return worked;
  }

  void Shutdown() override {
    {
      MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      stats_.dropped += queue_.Clear();
    }
    wake_.SignalAll();
    if (worker_.joinable()) worker_.join();
  }

  PushStats stats() const override {
    MutexLock lock(&mu_);
    PushStats s = stats_;
    s.pending = queue_.size();
    return s;
  }

 private:
  void Loop() {
    TimeMs last_round = std::numeric_limits<TimeMs>::min() / 2;
    while (true) {
      {
        MutexLock lock(&mu_);
        if (stopped_) return;
        std::optional<TimeMs> due = queue_.NextDue();
        const TimeMs now = clock_.NowMs();
        if (last_round > now) last_round = now - kRoundGapMs;  // the clock went back
        // One round per kRoundGapMs at most: the notices that fall due in
        // between go out together, one wake-up for all of them.
        const TimeMs at = due.has_value() ? std::max(*due, last_round + kRoundGapMs) : now;
        if (!due.has_value() || at > now) {
          const TimeMs wait = due.has_value() ? std::min(at - now, kMaxWaitMs) : kMaxWaitMs;
          wake_.WaitFor(&mu_, std::chrono::milliseconds(wait));
          continue;
        }
        last_round = now;
      }
      RunDue();
    }
  }

  // Decides and sends one notice. Runs on the worker (or RunDue's caller).
  void Work(const PushNotice& notice) {
    std::vector<UserId> one{notice.user};
    absl::StatusOr<std::vector<Presence>> presence = deps_.presence->Lookup(one);
    if (!presence.ok() || presence->size() != 1) {
      Count(&PushStats::lookup_errors);
      return;
    }
    if ((*presence)[0].online) {
      Count(&PushStats::skipped_online);
      return;
    }
    absl::StatusOr<std::vector<PushSubscriptionRecord>> subs =
        deps_.accounts->PushSubscriptions(notice.user);
    if (!subs.ok() && !absl::IsNotFound(subs.status())) {
      Count(&PushStats::lookup_errors);
      return;
    }
    const bool gateway = deps_.sender->has_gateway();
    if ((!subs.ok() || subs->empty()) && !gateway) {
      Count(&PushStats::no_subscription);
      return;
    }
    if (subs.ok()) {
      for (const PushSubscriptionRecord& device : *subs) {
        Tally(deps_.sender->ToDevice(notice, device), notice.user, &device);
      }
    }
    if (gateway) Tally(deps_.sender->ToGateway(notice), notice.user, nullptr);
  }

  void Tally(PushOutcome outcome, const UserId& user, const PushSubscriptionRecord* device) {
    switch (outcome) {
      case PushOutcome::kDelivered:
        Count(&PushStats::sent);
        return;
      case PushOutcome::kGaveUp:
        Count(&PushStats::failed);
        return;
      case PushOutcome::kGone:
        if (device == nullptr) {  // a webhook has nothing to delete
          Count(&PushStats::failed);
          return;
        }
        // Only this subscription: the device may have subscribed again.
        absl::StatusOr<bool> removed =
            deps_.accounts->DeletePushSubscription(user, device->device, device->subscription);
        if (!removed.ok()) {
          Count(&PushStats::lookup_errors);
          return;
        }
        Count(&PushStats::gone);
        return;
    }
  }

  void Count(std::uint64_t PushStats::*counter) {
    MutexLock lock(&mu_);
    ++(stats_.*counter);
  }

  const PushNotifierDeps deps_;
  Clock& clock_;
  mutable Mutex mu_;
  CondVar wake_;
  internal::PushQueue queue_ ABSL_GUARDED_BY(mu_);
  PushStats stats_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PushNotifier>> NewPushNotifier(const PushNotifierOptions& options,
                                                              PushNotifierDeps deps) {
  if (deps.presence == nullptr || deps.accounts == nullptr || deps.sender == nullptr) {
    return absl::InvalidArgumentError("a push notifier needs a presence store, an account store "
                                      "and a sender");
  }
  if (options.hold_ms < 0 || options.hold_ms > 60'000) {
    return absl::InvalidArgumentError("push hold_ms must be 0..60000");
  }
  if (options.max_pending < 1 || options.max_pending > 1'000'000) {
    return absl::InvalidArgumentError("push max_pending must be 1..1000000");
  }
  return std::unique_ptr<PushNotifier>(std::make_unique<StandardPushNotifier>(options, deps));
}

}  // namespace courier
