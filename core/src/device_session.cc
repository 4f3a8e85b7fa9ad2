#include "device_session.h"

#include <algorithm>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"

namespace courier::internal {

DeviceSession::DeviceSession(std::shared_ptr<SessionHost> host, UserId user, DeviceId device,
                             std::optional<Seq> since, std::shared_ptr<Transport> transport)
    : host_(std::move(host)),
      user_(user),
      device_(device),
      transport_(std::move(transport)),
      start_(since.value_or(0)),
      has_since_(since.has_value()) {}

// One per connected device: its size is per connection (bench/README.md,
// W4). 160 on LP64: with std::make_shared's control block 176, a tcmalloc
// size class (176 + 16 was 192: the transport's executor is asked of the
// transport, Home(), not kept).
static_assert(sizeof(void*) != 8 || sizeof(DeviceSession) <= 160,
              "DeviceSession grew: account for it in connection_memory_test");

std::shared_ptr<Executor> DeviceSession::Home() const {
  SmallMutexLock lock(&mu_);
  return transport_ != nullptr ? transport_->executor() : nullptr;
}

std::shared_ptr<Transport> DeviceSession::transport() const {
  SmallMutexLock lock(&mu_);
  return transport_;  // reset when the session closes
}

SessionState DeviceSession::state() const {
  SmallMutexLock lock(&mu_);
  return state_;
}

bool DeviceSession::closed() const {
  SmallMutexLock lock(&mu_);
  return state_ == SessionState::kClosed;
}

void DeviceSession::SetContacts(std::vector<UserId> contacts) {
  SmallMutexLock lock(&mu_);
  if (contacts.empty()) {
    if (extras_ != nullptr) extras_->contacts = {};
    TrimExtrasLocked();
    return;
  }
  ExtrasLocked().contacts = std::move(contacts);
}

std::vector<UserId> DeviceSession::contacts() const {
  SmallMutexLock lock(&mu_);
  if (extras_ == nullptr) return {};
  return extras_->contacts;
}

DeviceSession::Extras& DeviceSession::ExtrasLocked() {
  if (extras_ == nullptr) extras_ = std::make_unique<Extras>();
  return *extras_;
}

void DeviceSession::DropEarlyLocked() {
  if (extras_ == nullptr) return;
  extras_->early = {};
  TrimExtrasLocked();
}

void DeviceSession::TrimExtrasLocked() {
  if (extras_ != nullptr && extras_->early.empty() && extras_->contacts.empty() &&
      extras_->next == nullptr) {
    extras_.reset();
  }
}

std::size_t DeviceSession::InFlightLocked() const {
  const Seq base = std::max(acked_, start_);
  return sent_upto_ > base ? static_cast<std::size_t>(sent_upto_ - base) : 0;
}

void DeviceSession::SendLocked(std::vector<ServerFrame> frames) {
  if (transport_ != nullptr && !frames.empty()) transport_->Send(std::move(frames));
}

void DeviceSession::SendLocked(std::span<const FrameRef> frames) {
  if (transport_ != nullptr && !frames.empty()) transport_->SendView(frames);
}

std::optional<ServerFrame> DeviceSession::SyncedDueLocked() {
  if (synced_ || state_ == SessionState::kConnecting || state_ == SessionState::kClosed) {
    return std::nullopt;
  }
  if (sent_upto_ < head_at_connect_) return std::nullopt;
  synced_ = true;
  state_ = SessionState::kLive;
  return ServerFrame(std::in_place_type<SyncedFrame>, SyncedFrame{head_at_connect_});
}

void DeviceSession::MaybeSyncedLocked(std::vector<ServerFrame>& out) {
  if (std::optional<ServerFrame> synced = SyncedDueLocked()) out.push_back(*std::move(synced));
}

void DeviceSession::SchedulePumpLocked() {
  if (pumping_ || state_ == SessionState::kConnecting || state_ == SessionState::kClosed) return;
  if (InFlightLocked() >= host_->options().limits.window &&
      (HasNextPageLocked() || known_head_ <= sent_upto_)) {
    return;  // full, and nothing to read ahead: an ack re-schedules
  }
  pumping_ = true;
  host_->delivery().Post([self = shared_from_this()] { self->Pump(); });
}

void DeviceSession::EmitOne(ServerFrame frame) {
  SmallMutexLock lock(&mu_);
  if (state_ == SessionState::kClosed) return;
  if (state_ == SessionState::kConnecting) {
    ExtrasLocked().early.push_back(std::move(frame));
    return;
  }
  const FrameRef ref(frame);
  SendLocked(std::span<const FrameRef>(&ref, 1));  // borrowed: no vector
}

void DeviceSession::Emit(std::vector<ServerFrame> frames) {
  SmallMutexLock lock(&mu_);
  if (state_ == SessionState::kClosed) return;
  if (state_ == SessionState::kConnecting) {
    std::vector<ServerFrame>& early = ExtrasLocked().early;
    for (auto& f : frames) early.push_back(std::move(f));
    return;
  }
  SendLocked(std::move(frames));
}

void DeviceSession::OnAttached(absl::StatusOr<WriteResult> result,
                               std::vector<PresenceFrame> presence) {
  bool failed = false;
  {
    SmallMutexLock lock(&mu_);
    if (state_ != SessionState::kConnecting) return;
    const absl::StatusOr<AttachResult> attach = ResultAs<AttachResult>(std::move(result));
    if (!attach.ok()) {
      failed = true;
      SendLocked({ErrorFrame{ErrorCode::kUnavailable,
                             absl::StrCat("the store could not open this device's inbox: ",
                                          attach.status().message()),
                             "", std::nullopt}});
      if (transport_ != nullptr) transport_->Close(CloseCode::kGoingAway, "store unavailable");
      transport_.reset();
      DropEarlyLocked();
      state_ = SessionState::kClosed;
    } else {
      start_ = has_since_ ? std::min(start_, attach->head) : attach->cursor;
      sent_upto_ = start_;
      // acked_ mirrors the durable cursor (a `since` above it must not
      // swallow the acks that move it); the window counts from start_.
      acked_ = std::max(acked_, attach->cursor);
      head_at_connect_ = attach->head;
      known_head_ = std::max(known_head_, attach->head);
      state_ = SessionState::kDraining;
      std::vector<ServerFrame> early;
      if (extras_ != nullptr) early = std::move(extras_->early);
      DropEarlyLocked();
      std::vector<ServerFrame> frames;
      frames.reserve(2 + presence.size() + early.size());
      frames.push_back(WelcomeFrame{user_.str(), device_.str(), attach->cursor, attach->head});
      for (auto& p : presence) frames.push_back(std::move(p));
      for (auto& f : early) frames.push_back(std::move(f));
      MaybeSyncedLocked(frames);
      SendLocked(std::move(frames));
      if (known_head_ > sent_upto_) SchedulePumpLocked();
    }
  }
  if (failed) host_->OnDisconnected(shared_from_this());
}

void DeviceSession::OnEvent(const Event& event) {
  SmallMutexLock lock(&mu_);
  if (state_ == SessionState::kClosed) return;
  known_head_ = std::max(known_head_, event.seq);
  if (state_ == SessionState::kConnecting || event.seq <= sent_upto_) return;
  if (!pumping_ && event.seq == sent_upto_ + 1 &&
      InFlightLocked() < host_->options().limits.window) {
    sent_upto_ = event.seq;
    // Borrowed: the event is not copied (Transport::SendView).
    const std::optional<ServerFrame> synced = SyncedDueLocked();
    const FrameRef refs[2] = {FrameRef(event), synced.has_value() ? FrameRef(*synced)
                                                                  : FrameRef(event)};
    SendLocked(std::span<const FrameRef>(refs, synced.has_value() ? 2 : 1));
    host_->CountDelivered(1);
    return;
  }
  SchedulePumpLocked();
}

void DeviceSession::Poke() {
  SmallMutexLock lock(&mu_);
  if (state_ == SessionState::kClosed || state_ == SessionState::kConnecting) return;
  poked_ = true;
  SchedulePumpLocked();
}

void DeviceSession::Pump() {
  const std::size_t window = host_->options().limits.window;
  const std::size_t page_size = std::max<std::size_t>(1, host_->options().limits.fetch_page);
  const UserId user = user_.str();  // the store's Fetch takes a std::string
  for (;;) {
    Page page;
    std::size_t limit = 0;
    bool ahead = false;  // the window is full: read the next page
    std::size_t sent = 0;
    {
      SmallMutexLock lock(&mu_);
      if (state_ == SessionState::kClosed) {
        pumping_ = false;
        return;
      }
      sent = SendNextPageLocked();  // an ack emptied the window meanwhile
      const std::size_t in_flight = InFlightLocked();
      const bool want = poked_ || known_head_ > sent_upto_;
      if (sent == 0 && (!want || (in_flight >= window && HasNextPageLocked()))) {
        pumping_ = false;
        return;
      }
      if (sent == 0) {
        ahead = in_flight >= window;
        limit = ahead ? std::min(window, page_size) : std::min(window - in_flight, page_size);
        poked_ = false;
        page.after = sent_upto_;
        page.head_before = known_head_;
      }
    }
    if (sent > 0) {
      host_->CountDelivered(sent);
      continue;
    }
    absl::StatusOr<std::vector<Event>> events = host_->store().Fetch(user, page.after, limit);
    {
      SmallMutexLock lock(&mu_);
      if (state_ == SessionState::kClosed || !events.ok()) {
        // A failed read: the next poke (wake-up, head poll, ack) retries.
        pumping_ = false;
        return;
      }
      page.exhausted = events->size() < limit;
      page.events = *std::move(events);
      if (ahead) {
        if (page.after != sent_upto_ || page.events.empty()) {
          pumping_ = false;  // moved on meanwhile, or nothing to hold
          return;
        }
        ExtrasLocked().next = std::make_unique<Page>(std::move(page));
        continue;  // an ack may have emptied the window meanwhile
      }
      sent = SendPageLocked(page, page.events.size());
    }
    if (sent > 0) host_->CountDelivered(sent);
  }
}

std::size_t DeviceSession::SendNextPageLocked() {
  if (!HasNextPageLocked()) return 0;
  Page& page = *extras_->next;
  const std::size_t window = host_->options().limits.window;
  const std::size_t in_flight = InFlightLocked();
  std::size_t sent = 0;
  if (page.after == sent_upto_ && in_flight < window) {
    sent = SendPageLocked(page, window - in_flight);
  }
  if (page.after != sent_upto_ || page.taken == page.events.size()) {
    extras_->next.reset();  // sent, or no longer where the stream is
    TrimExtrasLocked();
  }
  return sent;
}

std::size_t DeviceSession::SendPageLocked(Page& page, std::size_t max) {
  // Borrowed from the page (Transport::SendView); `synced`, at most once
  // per session, lives beside it.
  absl::InlinedVector<FrameRef, 32> frames;
  std::optional<ServerFrame> synced;
  std::size_t sent = 0;
  for (; page.taken < page.events.size() && sent < max; ++page.taken) {
    const Event& e = page.events[page.taken];
    if (e.seq <= sent_upto_) continue;
    sent_upto_ = e.seq;
    known_head_ = std::max(known_head_, e.seq);
    frames.push_back(FrameRef(e));
    ++sent;
    // `synced` goes right after the head that welcome gave, before any
    // later (live) event of the same page.
    if (!synced.has_value() && (synced = SyncedDueLocked()).has_value()) {
      frames.push_back(FrameRef(*synced));
    }
  }
  page.after = sent_upto_;
  if (page.taken == page.events.size() && page.exhausted) {
    if (known_head_ == page.head_before && known_head_ > sent_upto_) {
      // The store has nothing beyond sent_upto_ (pruned or expired events):
      // what we believed was the head is gone.
      known_head_ = sent_upto_;
    }
    if (!synced_ && sent_upto_ < head_at_connect_ && known_head_ == sent_upto_) {
      head_at_connect_ = sent_upto_;  // the rest was pruned: caught up
    }
  }
  if (!synced.has_value() && (synced = SyncedDueLocked()).has_value()) {
    frames.push_back(FrameRef(*synced));
  }
  SendLocked(std::span<const FrameRef>(frames.data(), frames.size()));
  return sent;
}

bool DeviceSession::AnsweredByCheck(std::optional<ServerFrame> answer) {
  if (!answer.has_value()) return false;
  EmitOne(*std::move(answer));
  return true;
}

void DeviceSession::Send(std::string cid, UserId to, std::string body) {
  if (closed()) return;
  // The op first: its sender is the user's name as a std::string, which
  // the checks take (the session keeps it as a NameKey).
  AppendOp op = SendOp(&AppendOp::recipient, std::move(to), cid, std::move(body));
  if (AnsweredByCheck(host_->CheckSend(op.sender, cid, op.recipient, op.body.size()))) return;
  SubmitSend(std::move(op), std::move(cid), &DeviceSession::AnswerSend);
}

void DeviceSession::AnswerSend(std::string cid, absl::StatusOr<AppendResult> ar) {
  if (ar.ok()) {
    host_->OnAppended(user_.str(), cid, *ar);
    EmitOne(SentFrame{std::move(cid), std::move(ar->id), ar->ts, ar->duplicate, {}});
    return;
  }
  ErrorFrame error;
  error.cid = std::move(cid);
  if (absl::IsResourceExhausted(ar.status())) {
    error.code = ErrorCode::kQueueFull;
    error.message = "the recipient has too many undelivered messages; nothing was stored";
  } else {
    error.code = ErrorCode::kUnavailable;
    error.message = absl::StrCat("the message was not stored, retry with the same cid: ",
                                 ar.status().message());
  }
  EmitOne(std::move(error));
}

void DeviceSession::Ack(Seq seq) {
  {
    SmallMutexLock lock(&mu_);
    if (state_ == SessionState::kClosed) return;
    if (seq <= acked_ && state_ != SessionState::kConnecting) return;
    if (seq <= sent_upto_ && seq > acked_) {
      const Seq held = ack_held_ + (seq - acked_);
      acked_ = seq;
      // The next page, if read already, goes out from here (see the header).
      if (const std::size_t sent = SendNextPageLocked(); sent > 0) host_->CountDelivered(sent);
      if (known_head_ > sent_upto_ || poked_) SchedulePumpLocked();
      // Draining with events still to send: hold (see the header).
      if (state_ == SessionState::kDraining && seq < known_head_ && held < kAckHoldEvents) {
        ack_held_ = static_cast<std::uint16_t>(held);
        host_->CountAck();
        return;
      }
    }
    ack_held_ = 0;  // this ack covers what was held
  }
  host_->CountAck();
  SubmitAck(seq);
}

Seq DeviceSession::TakeHeldAckLocked() {
  if (ack_held_ == 0) return 0;
  ack_held_ = 0;
  return acked_;
}

void DeviceSession::SubmitHeldAck() {
  Seq seq = 0;
  {
    SmallMutexLock lock(&mu_);
    seq = TakeHeldAckLocked();
  }
  if (seq > 0) SubmitAck(seq);
}

void DeviceSession::SubmitAck(Seq seq) {
  AckOp op{user_.str(), device_.str(), seq, host_->Now()};
  host_->Submit(std::move(op), [self = shared_from_this(), seq](absl::StatusOr<WriteResult> r) {
    absl::StatusOr<AckResult> ack = ResultAs<AckResult>(std::move(r));
    if (!ack.ok()) {
      if (absl::IsOutOfRange(ack.status())) {
        self->Emit({ErrorFrame{ErrorCode::kBadSeq,
                               absl::StrCat("ack ", seq, " is beyond the inbox head"), "",
                               std::nullopt}});
      }
      // Other failures: the cursor did not move; a later ack covers it, and
      // at worst the device is sent these events again after a reconnect.
      return;
    }
    self->OnAckCommitted(seq);
  }, Home());
}

void DeviceSession::OnAckCommitted(Seq seq) {
  SmallMutexLock lock(&mu_);
  if (state_ == SessionState::kClosed || state_ == SessionState::kConnecting) return;
  if (seq <= acked_) return;
  acked_ = seq;
  ack_held_ = 0;  // what was held lies below seq
  if (seq > sent_upto_) {
    // The device has stored events this connection did not send (from an
    // earlier connection): never send an acked event again.
    sent_upto_ = seq;
    known_head_ = std::max(known_head_, seq);
    std::vector<ServerFrame> frames;
    MaybeSyncedLocked(frames);
    SendLocked(std::move(frames));
  }
  SchedulePumpLocked();
}

void DeviceSession::Read(std::vector<MessageId> ids) {
  if (closed()) return;
  const std::size_t max_ids = host_->options().limits.max_read_ids;
  if (ids.empty() || ids.size() > max_ids) {
    Emit({ErrorFrame{ErrorCode::kBadFrame,
                     absl::StrCat("read takes 1-", max_ids, " ids, got ", ids.size()), "",
                     std::nullopt}});
    return;
  }
  for (const MessageId& id : ids) {
    if (id.empty() || id.size() > kMaxIdBytes) {
      Emit({ErrorFrame{ErrorCode::kBadFrame,
                       absl::StrCat("a message id is 1-", kMaxIdBytes, " bytes"), "",
                       std::nullopt}});
      return;
    }
  }
  host_->CountRead();
  ReadOp op{user_.str(), std::move(ids), host_->Now()};
  host_->Submit(std::move(op), [self = shared_from_this()](absl::StatusOr<WriteResult> r) {
    absl::StatusOr<ReadResult> read = ResultAs<ReadResult>(std::move(r));
    if (!read.ok()) {
      self->Emit({ErrorFrame{ErrorCode::kUnavailable,
                             "the read marker was not stored; send it again", "",
                             std::nullopt}});
      return;
    }
  }, Home());
}

void DeviceSession::Disconnect() {
  Seq held = 0;
  {
    SmallMutexLock lock(&mu_);
    if (state_ == SessionState::kClosed) return;
    state_ = SessionState::kClosed;
    held = TakeHeldAckLocked();
    transport_.reset();
    DropEarlyLocked();
  }
  if (held > 0) SubmitAck(held);  // before the disconnect's bookkeeping
  host_->OnDisconnected(shared_from_this());
}

bool DeviceSession::CloseBy(CloseCode code, std::string_view reason) {
  Seq held = 0;
  {
    SmallMutexLock lock(&mu_);
    if (state_ == SessionState::kClosed) return false;
    state_ = SessionState::kClosed;
    held = TakeHeldAckLocked();
    if (transport_ != nullptr) transport_->Close(code, reason);
    transport_.reset();
    DropEarlyLocked();
  }
  if (held > 0) SubmitAck(held);
  return true;
}

}  // namespace courier::internal
