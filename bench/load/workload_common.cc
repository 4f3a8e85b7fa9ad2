// workload_common.cc: figures, frames, checks, meters, Enqueue and Drain.
#include "workload_common.h"

#include <unistd.h>

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace courier::load {

void Figures::Add(const std::string& workload, const std::string& figure,
                  const std::string& value) {
  std::cout << system_ << " " << workload << " " << figure << " " << value
            << (note_.empty() ? "" : " ") << note_ << std::endl;
}

void Figures::Refuse(const std::string& workload, const std::string& figure,
                     const absl::Status& why) {
  ++refused_;
  std::cerr << "courier-load: ERROR: " << workload << " " << figure
            << " not printed: " << why.message() << "\n";
}

void Figures::Add(const std::string& workload, const std::string& figure, double value) {
  std::string text = value >= 1000 ? absl::StrFormat("%.0f", value)
                     : value >= 10 ? absl::StrFormat("%.1f", value)
                                   : absl::StrFormat("%.3g", value);
  Add(workload, figure, text);
}

absl::StatusOr<WorkloadList> ExpandWorkloads(std::string_view asked) {
  WorkloadList list;
  auto add = [&list](const std::string& name) {
    if (std::find(list.names.begin(), list.names.end(), name) != list.names.end()) {
      list.repeated.push_back(name);
    } else {
      list.names.push_back(name);
    }
  };
  const absl::string_view all(asked.data(), asked.size());
  for (absl::string_view w : absl::StrSplit(all, ',', absl::SkipEmpty())) {
    if (w == "W3") {
      add("W3");
      add("W3paced");
    } else if (w == "W1" || w == "W2" || w == "W3paced" || w == "W4" || w == "W5") {
      add(std::string(w));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown workload ", w, " (W1, W2, W3, W3paced, W4, W5)"));
    }
  }
  return list;
}

std::string HelloJson(const std::string& token, const std::string& device) {
  return absl::StrCat(R"({"op":"hello","token":")", token, R"(","device":")", device, R"("})");
}

namespace {

// Body's bytes, appended.
void AppendBody(std::string& out, std::size_t tag, std::size_t index, std::size_t bytes) {
  const std::size_t start = out.size();
  absl::StrAppend(&out, tag, ":", index, ":");
  const std::size_t written = out.size() - start;
  if (written < bytes) out.append(bytes - written, 'x');
}

}  // namespace

std::string Body(std::size_t tag, std::size_t index, std::size_t bytes) {
  std::string b;
  AppendBody(b, tag, index, bytes);
  return b;
}

void AppendSendJson(std::string& out, std::size_t cid, std::string_view to, std::size_t tag,
                    std::size_t index, std::size_t bytes) {
  absl::StrAppend(&out, R"({"op":"send","cid":"c)", cid, R"(","to":")");
  out.append(to);
  out.append(R"(","body":")");
  AppendBody(out, tag, index, bytes);
  out.append(R"("})");
}

bool ParseBody(std::string_view body, std::size_t& tag, std::size_t& index) {
  const std::size_t c1 = body.find(':');
  if (c1 == std::string_view::npos) return false;
  const std::size_t c2 = body.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return false;
  auto r1 = std::from_chars(body.data(), body.data() + c1, tag);
  auto r2 = std::from_chars(body.data() + c1 + 1, body.data() + c2, index);
  return r1.ec == std::errc() && r1.ptr == body.data() + c1 && r2.ec == std::errc() &&
         r2.ptr == body.data() + c2;
}

bool InboxCheck::OnMsg(std::uint64_t seq, std::string_view body) {
  if (seq < next_seq) {
    ++dup;
    return false;
  }
  if (seq > next_seq) ++reordered;
  next_seq = seq + 1;
  std::size_t tag = 0, index = 0;
  if (!ParseBody(body, tag, index) || tag >= next_index.size()) {
    ++foreign;
    return true;
  }
  if (index != next_index[tag]) ++reordered;
  next_index[tag] = std::max(next_index[tag], index + 1);
  ++received;
  return true;
}

CpuSample SampleCpu(const Context& ctx) {
  CpuSample s;
  s.at = SteadyClock::now();
  s.server_pid = ctx.server_pid;
  if (ctx.server_pid > 0) {
    s.server_us = ProcessCpuMicros(ctx.server_pid);
    s.server_switches = ReadThreadSwitches(ctx.server_pid);
    s.server_threads = ReadThreadDetails(ctx.server_pid);
    absl::StatusOr<SyscallCounts> traced = ctx.syscalls != nullptr
                                               ? ctx.syscalls->Read(ctx.server_pid)
                                               : absl::UnavailableError("no tracepoint counter");
    if (traced.ok()) {
      s.server_io = ProcIo{traced->reads, traced->writes};
      s.io_from_tracepoints = true;
    } else if (absl::IsNotFound(traced.status())) {
      s.server_io = traced.status();
    } else {
      s.server_io = ReadProcIo(ctx.server_pid);
    }
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  s.client_us = static_cast<std::uint64_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000 +
                static_cast<std::uint64_t>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  s.client_switches = static_cast<std::uint64_t>(ru.ru_nvcsw + ru.ru_nivcsw);
  return s;
}

namespace {

// What the two readings of one counter must satisfy before a delta of them
// is a figure: both made, of the same server process.
absl::Status BothRead(const CpuSample& a, const CpuSample& b, const absl::Status& sa,
                      const absl::Status& sb) {
  if (a.server_pid != b.server_pid) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the server changed (pid ", a.server_pid, " -> ", b.server_pid, ") during the phase"));
  }
  if (!sa.ok()) return absl::Status(sa.code(), absl::StrCat("at the start: ", sa.message()));
  if (!sb.ok()) return absl::Status(sb.code(), absl::StrCat("at the end: ", sb.message()));
  return absl::OkStatus();
}

absl::StatusOr<double> PerMsg(std::uint64_t before, std::uint64_t after, std::uint64_t messages,
                              const char* what) {
  if (after < before) {
    return absl::DataLossError(absl::StrCat(what, " went backwards (", before, " -> ", after, ")"));
  }
  if (messages == 0) return absl::FailedPreconditionError("no messages in the phase");
  return static_cast<double>(after - before) / static_cast<double>(messages);
}

std::string Show(const absl::StatusOr<double>& v, const char* format) {
  return v.ok() ? absl::StrFormat(format, *v) : std::string("?");
}

}  // namespace

ServerPerMsg ReportCpu(const Context& ctx, const std::string& what, const CpuSample& a,
                       const CpuSample& b, std::uint64_t messages) {
  ServerPerMsg m;
  m.known = a.server_pid > 0 || b.server_pid > 0;
  const double wall = Seconds(b.at - a.at);
  const double client = static_cast<double>(b.client_us - a.client_us);
  const double n = static_cast<double>(std::max<std::uint64_t>(1, messages));
  double server = 0;
  SwitchDelta sw;
  std::string io_detail = "?";
  if (m.known) {
    if (absl::Status s = BothRead(a, b, a.server_us.status(), b.server_us.status()); !s.ok()) {
      m.cpu_us = absl::Status(s.code(), absl::StrCat("/proc/PID/stat: ", s.message()));
    } else {
      m.cpu_us = PerMsg(*a.server_us, *b.server_us, messages, "the server's CPU time");
      if (*b.server_us >= *a.server_us) server = static_cast<double>(*b.server_us - *a.server_us);
    }
    if (absl::Status s = BothRead(a, b, a.server_switches.status(), b.server_switches.status());
        !s.ok()) {
      m.ctx_switches = s;
    } else {
      sw = DiffThreadSwitches(*a.server_switches, *b.server_switches);
      if (sw.exited > 0) {
        // Their switches left /proc/PID/task with them: the sum would be low.
        m.ctx_switches = absl::DataLossError(absl::StrCat(
            sw.exited, " server thread(s) exited during the phase; their context switches are "
                       "lost from /proc/PID/task"));
      } else if (messages == 0) {
        m.ctx_switches = absl::FailedPreconditionError("no messages in the phase");
      } else {
        m.ctx_switches = static_cast<double>(sw.switches) / static_cast<double>(messages);
      }
    }
    if (absl::Status s = BothRead(a, b, a.server_io.status(), b.server_io.status()); !s.ok()) {
      m.syscalls = s;
    } else if (a.io_from_tracepoints != b.io_from_tracepoints) {
      m.syscalls = absl::DataLossError(
          "the read/write calls came from the tracepoints at one end of the phase only");
    } else {
      m.syscalls = PerMsg(a.server_io->syscr + a.server_io->syscw,
                          b.server_io->syscr + b.server_io->syscw, messages,
                          a.io_from_tracepoints ? "the syscall tracepoints' counts"
                                                : "syscr + syscw of /proc/PID/io");
      if (b.server_io->syscr >= a.server_io->syscr && b.server_io->syscw >= a.server_io->syscw &&
          messages > 0) {
        io_detail = absl::StrFormat(
            "%.2f reads + %.2f writes, %s",
            static_cast<double>(b.server_io->syscr - a.server_io->syscr) / n,
            static_cast<double>(b.server_io->syscw - a.server_io->syscw) / n,
            a.io_from_tracepoints ? "syscall tracepoints"
                                  : "/proc/PID/io: socket calls not counted");
      }
    }
  }
  std::cerr << absl::StrFormat(
      "courier-load: %s: %.3f s wall; server cpu %.2f s (%.0f%% of one core, %s us/msg, "
      "%s ctx switches/msg over %zu threads (%zu started, %zu exited), %s read+write "
      "syscalls/msg (%s)); courier-load cpu %.2f s (%.0f%% of one core over %zu io threads, "
      "%.2f us/msg, %.2f ctx switches/msg)\n",
      what, wall, server / 1e6, wall > 0 ? 100 * server / 1e6 / wall : 0,
      Show(m.cpu_us, "%.2f"), Show(m.ctx_switches, "%.2f"), sw.threads, sw.started, sw.exited,
      Show(m.syscalls, "%.2f"), io_detail, client / 1e6, wall > 0 ? 100 * client / 1e6 / wall : 0,
      ctx.io->size(), client / n,
      static_cast<double>(b.client_switches - a.client_switches) / n);
  if (a.server_threads.ok() && b.server_threads.ok() && a.server_pid == b.server_pid) {
    std::cerr << "courier-load: " << what << ": server threads (switches and CPU per message): "
              << FormatThreadBreakdown(*a.server_threads, *b.server_threads, messages,
                                       sysconf(_SC_CLK_TCK))
              << "\n";
  }
  return m;
}

void AddServerFigures(Figures& figures, const std::string& workload, const ServerPerMsg& m) {
  if (!m.known) return;
  const std::pair<const char*, const absl::StatusOr<double>*> all[] = {
      {"server_cpu_us_per_msg", &m.cpu_us},
      {"server_ctx_switches_per_msg", &m.ctx_switches},
      {"server_syscalls_per_msg", &m.syscalls}};
  for (const auto& [figure, value] : all) {
    if (value->ok()) {
      figures.Add(workload, figure, **value);
    } else {
      figures.Refuse(workload, figure, value->status());
    }
  }
}

void Failure::Set(std::string why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_.load()) return;
  why_ = std::move(why);
  failed_.store(true, std::memory_order_release);
}

std::string Failure::why() const {
  std::lock_guard<std::mutex> lock(mu_);
  return why_;
}

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

bool PollUntil(const std::function<bool()>& done, SteadyClock::duration limit) {
  const auto until = SteadyClock::now() + limit;
  while (!done()) {
    if (SteadyClock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

absl::Status WaitFor(const Context& ctx, const Failure& failure, const std::function<bool()>& done,
                     const std::function<std::uint64_t()>& progress,
                     const std::function<std::string()>& describe) {
  std::uint64_t last = progress();
  auto last_change = SteadyClock::now();
  for (;;) {
    if (failure.failed()) return absl::InternalError(failure.why());
    if (done()) return absl::OkStatus();
    // Every figure's times are stamped on the io threads; this loop only
    // notices the end, so it wakes rarely (it is courier-load's CPU too).
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::uint64_t now = progress();
    if (now != last) {
      last = now;
      last_change = SteadyClock::now();
    } else if (SteadyClock::now() - last_change > ctx.stall_timeout) {
      return absl::DeadlineExceededError(
          absl::StrCat("no progress for ", ctx.stall_timeout.count(), " s: ", describe()));
    }
  }
}

// ----------------------------------------------------------------- Enqueue

namespace {

struct SenderState {
  const SenderJob* job = nullptr;
  std::shared_ptr<WsConn> conn;
  std::size_t next = 0;       // next message index to send
  std::size_t answered = 0;   // `sent` received
  bool welcomed = false;
};

struct EnqueueShared : PhaseShared {
  std::atomic<std::size_t> welcomed{0};
  std::atomic<std::uint64_t> answered{0};
  std::atomic<std::size_t> senders_done{0};
  std::atomic<bool> go{false};
  SteadyClock::time_point first_send{};
  std::atomic<std::int64_t> last_sent_ns{0};
  std::uint64_t total = 0;
  std::size_t window = 1;
  std::size_t body_bytes = 100;
  std::function<void()> on_all_sent;
  std::vector<SenderState> senders;
};

void SendMore(EnqueueShared& sh, SenderState& s) {
  const SenderJob& job = *s.job;
  while (s.next < job.count && s.next - s.answered < sh.window) {
    const std::size_t i = s.next++;
    // Round-robin over the recipients: message i is the (i / n)-th to its
    // recipient, the index that recipient's order check expects.
    const std::size_t n = job.to.size();
    const Account* to = job.to[i % n];
    thread_local std::string frame;
    frame.clear();
    AppendSendJson(frame, i, to->user, job.tag, i / n, sh.body_bytes);
    s.conn->Send(frame);
  }
}

}  // namespace

absl::StatusOr<EnqueueResult> Enqueue(Context& ctx, const std::vector<SenderJob>& jobs,
                                      std::size_t window, std::function<void()> on_all_sent) {
  auto sh = std::make_shared<EnqueueShared>();
  sh->window = std::max<std::size_t>(1, window);
  sh->body_bytes = ctx.sizes.body_bytes;
  sh->on_all_sent = std::move(on_all_sent);
  sh->senders.resize(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    sh->senders[i].job = &jobs[i];
    sh->total += jobs[i].count;
  }
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    SenderState& s = sh->senders[i];
    WsConn::Callbacks cb;
    cb.on_frame = [sh, &s](WsConn& c, const InFrame& f) {
      switch (f.op) {
        case InFrame::Op::kWelcome:
          if (!s.welcomed) {
            s.welcomed = true;
            sh->welcomed.fetch_add(1);
          }
          break;
        case InFrame::Op::kSent: {
          if (f.dup) sh->failure.Set(absl::StrCat(s.job->sender->user, ": sent with dup: true"));
          ++s.answered;
          const std::uint64_t all = sh->answered.fetch_add(1) + 1;
          if (s.answered == s.job->count) sh->senders_done.fetch_add(1);
          if (all == sh->total) {
            sh->last_sent_ns.store(SteadyClock::now().time_since_epoch().count());
            if (sh->on_all_sent) sh->on_all_sent();
          }
          SendMore(*sh, s);
          break;
        }
        case InFrame::Op::kError:
          sh->failure.Set(absl::StrCat(s.job->sender->user, ": error ", std::string(f.code), ": ", std::string(f.message)));
          break;
        case InFrame::Op::kReceipt:
        case InFrame::Op::kMsg:
          c.Ack(f.seq);
          break;
        default:
          break;
      }
    };
    cb.on_end = [sh](WsConn& c, beast::error_code ec, std::string_view where) {
      sh->ended.fetch_add(1);
      if (ec && sh->answered.load() < sh->total) {
        sh->failure.Set(absl::StrCat("sender ", c.index, ": ", std::string(where), ": ", ec.message()));
      }
    };
    s.conn = std::make_shared<WsConn>(ctx.io->Next(), ctx.endpoint, std::move(cb));
    s.conn->index = i;
    s.conn->Start(HelloJson(jobs[i].sender->token, "load"));
  }
  const std::size_t n = jobs.size();
  auto describe = [&] {
    return absl::StrCat("enqueue: ", sh->welcomed.load(), "/", n, " senders welcomed, ",
                        sh->answered.load(), "/", sh->total, " sent");
  };
  absl::Status s = WaitFor(
      ctx, sh->failure, [&] { return sh->welcomed.load() == n; },
      [&] { return sh->welcomed.load(); }, describe);
  if (s.ok()) {
    sh->first_send = SteadyClock::now();
    for (SenderState& st : sh->senders) {
      st.conn->Post([sh, &st] { SendMore(*sh, st); });
    }
    s = WaitFor(
        ctx, sh->failure, [&] { return sh->answered.load() == sh->total; },
        [&] { return sh->answered.load(); }, describe);
  }
  EnqueueResult result;
  if (s.ok()) {
    const SteadyClock::time_point last{SteadyClock::duration(sh->last_sent_ns.load())};
    result.seconds = Seconds(last - sh->first_send);
    result.messages = sh->total;
  }
  for (SenderState& st : sh->senders) st.conn->Close();
  // Wait for the closes (bounded): a sender's session must be gone before
  // the next phase measures anything.
  PollUntil([&] { return sh->ended.load() >= n; }, std::chrono::seconds(10));
  if (!s.ok()) return s;
  return result;
}

// ----------------------------------------------------------------- Drain

namespace {

struct RecipientState {
  const DrainJob* job = nullptr;  // read by Drain's thread only (the job ends with Drain)
  std::string user;               // the recipient's name, for the io threads' messages
  std::shared_ptr<WsConn> conn;
  InboxCheck check;
  std::uint64_t max_seq = 0;
  std::uint64_t synced_seq = 0;
  std::uint64_t ack_written = 0;
  std::uint64_t ack_asked = 0;
  bool synced = false;
  bool done = false;
  bool welcomed = false;
};

// Well under the server's window (256 by default), so the stream never
// waits for an ack within a batch; a batch's rest is acked at its end.
constexpr std::uint64_t kAckEvery = 32;

struct DrainShared : PhaseShared {
  std::atomic<std::size_t> done{0};
  std::atomic<std::size_t> started{0};
  std::atomic<std::size_t> connecting{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::int64_t> first_hello_ns{INT64_MAX};
  std::atomic<std::int64_t> last_done_ns{0};
  std::atomic<std::uint64_t> connect_failures{0};
  std::vector<RecipientState> recipients;
  std::mutex start_mu;
  std::size_t next_to_start = 0;  // guarded by start_mu
  // Set by Drain's thread when it closes the connections: no connection
  // starts after that (a paced drain starts them from the io threads).
  bool stopping = false;          // guarded by start_mu
  std::size_t pace = 0;
  Context* ctx = nullptr;
};

void StartNext(const std::shared_ptr<DrainShared>& sh);

void MarkDone(DrainShared& sh, RecipientState& r) {
  if (r.done) return;
  r.done = true;
  const std::int64_t now = SteadyClock::now().time_since_epoch().count();
  std::int64_t prev = sh.last_done_ns.load();
  while (prev < now && !sh.last_done_ns.compare_exchange_weak(prev, now)) {
  }
  sh.done.fetch_add(1);
}

// Done once `synced` came, every seq up to it arrived and its ack is written.
void CheckDone(DrainShared& sh, RecipientState& r) {
  if (r.done || !r.synced) return;
  if (r.check.next_seq <= r.synced_seq) return;
  if (r.ack_written < r.synced_seq) return;
  MarkDone(sh, r);
}

void StartOne(const std::shared_ptr<DrainShared>& sh, std::size_t i) {
  RecipientState& r = sh->recipients[i];
  WsConn::Callbacks cb;
  cb.on_frame = [sh, &r](WsConn& c, const InFrame& f) {
    switch (f.op) {
      case InFrame::Op::kWelcome: {
        r.welcomed = true;
        r.check.next_seq = f.cursor + 1;
        std::int64_t t = c.hello_at().time_since_epoch().count();
        std::int64_t prev = sh->first_hello_ns.load();
        while (t < prev && !sh->first_hello_ns.compare_exchange_weak(prev, t)) {
        }
        if (sh->pace > 0) {
          sh->connecting.fetch_sub(1);
          StartNext(sh);
        }
        break;
      }
      case InFrame::Op::kMsg:
      case InFrame::Op::kReceipt:
        if (f.op == InFrame::Op::kMsg && r.check.OnMsg(f.seq, f.body)) sh->received.fetch_add(1);
        r.max_seq = std::max(r.max_seq, f.seq);
        // While draining, a cumulative ack every kAckEvery events (a device
        // storing its backlog in batches; the rest of a batch is acked at its
        // end, on_batch_end); once synced, each event at once.
        if (r.synced || r.max_seq - r.ack_asked >= kAckEvery) {
          r.ack_asked = r.max_seq;
          c.Ack(r.max_seq);
        }
        break;
      case InFrame::Op::kSynced:
        r.synced = true;
        r.synced_seq = f.seq;
        if (r.max_seq > r.ack_asked) {
          r.ack_asked = r.max_seq;
          c.Ack(r.max_seq);
        }
        if (f.seq == 0) {
          MarkDone(*sh, r);  // nothing to drain
        } else {
          CheckDone(*sh, r);
        }
        break;
      case InFrame::Op::kError:
        sh->failure.Set(absl::StrCat(r.user, ": error ", std::string(f.code), ": ", std::string(f.message)));
        break;
      default:
        break;
    }
  };
  // The end of what the socket had: ack the batch's rest. Without it a
  // server whose window is below kAckEvery waits for an ack that never
  // comes, and the drain never ends (test: bench.courier_load_small_window).
  cb.on_batch_end = [&r](WsConn& c) {
    if (r.max_seq > r.ack_asked) {
      r.ack_asked = r.max_seq;
      c.Ack(r.max_seq);
    }
  };
  cb.on_ack_written = [sh, &r](WsConn&, std::uint64_t seq) {
    r.ack_written = std::max(r.ack_written, seq);
    CheckDone(*sh, r);
  };
  cb.on_end = [sh, &r](WsConn&, beast::error_code ec, std::string_view where) {
    sh->ended.fetch_add(1);
    if (ec && !r.done) {
      if (where == "connect" || where == "handshake") sh->connect_failures.fetch_add(1);
      sh->failure.Set(absl::StrCat(r.user, ": ", std::string(where), ": ", ec.message()));
    }
  };
  r.conn = std::make_shared<WsConn>(sh->ctx->io->Next(), sh->ctx->endpoint, std::move(cb));
  r.conn->index = i;
  sh->started.fetch_add(1);
  r.conn->Start(HelloJson(r.job->recipient->token, "load"));
}

void StartNext(const std::shared_ptr<DrainShared>& sh) {
  // Under start_mu from the choice to the Start, so that Drain's thread,
  // closing under it, sees every connection that started (r.conn) and none
  // starts after.
  std::lock_guard<std::mutex> lock(sh->start_mu);
  for (;;) {
    if (sh->stopping || sh->next_to_start >= sh->recipients.size()) return;
    if (sh->pace > 0 && sh->connecting.load() >= sh->pace) return;
    const std::size_t i = sh->next_to_start++;
    sh->connecting.fetch_add(1);
    StartOne(sh, i);
  }
}

}  // namespace

absl::StatusOr<DrainResult> Drain(Context& ctx, const std::vector<DrainJob>& jobs,
                                  std::size_t pace, bool from_connect) {
  auto sh = std::make_shared<DrainShared>();
  sh->ctx = &ctx;
  sh->pace = pace;
  sh->recipients.resize(jobs.size());
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    sh->recipients[i].job = &jobs[i];
    sh->recipients[i].user = jobs[i].recipient->user;
    sh->recipients[i].check.next_index.assign(jobs[i].senders, 0);
    expected += jobs[i].expected;
  }
  const SteadyClock::time_point start = SteadyClock::now();
  StartNext(sh);
  const std::size_t n = jobs.size();
  absl::Status s = WaitFor(
      ctx, sh->failure, [&] { return sh->done.load() == n; },
      [&] { return sh->received.load() + sh->started.load(); },
      [&] {
        return absl::StrCat("drain: ", sh->started.load(), "/", n, " connected, ",
                            sh->done.load(), " done, ", sh->received.load(), "/", expected,
                            " messages");
      });
  {
    std::lock_guard<std::mutex> lock(sh->start_mu);
    sh->stopping = true;
    for (RecipientState& r : sh->recipients) {
      if (r.conn) r.conn->Close();
    }
  }
  PollUntil([&] { return sh->ended.load() >= sh->started.load(); }, std::chrono::seconds(10));
  // Read after the closes: the inboxes' checks include every frame that
  // came until then, and the io threads are done with them.
  DrainResult result;
  result.connect_failures = sh->connect_failures.load();
  if (s.ok()) {
    const SteadyClock::time_point first{SteadyClock::duration(sh->first_hello_ns.load())};
    const SteadyClock::time_point last{SteadyClock::duration(sh->last_done_ns.load())};
    result.seconds = Seconds(last - (from_connect ? start : first));
    for (const RecipientState& r : sh->recipients) {
      result.received += r.check.received;
      result.dup += r.check.dup;
      result.reordered += r.check.reordered;
      result.foreign += r.check.foreign;
      if (r.check.received < r.job->expected) result.lost += r.job->expected - r.check.received;
    }
  }
  if (!s.ok()) return s;
  return result;
}

}  // namespace courier::load
