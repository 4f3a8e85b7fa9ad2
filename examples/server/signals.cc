// signals.cc: sigwait on a blocked set.
#include "signals.h"

#include <csignal>

namespace courier::server {
namespace {

sigset_t SignalSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void BlockStopSignals() {
  sigset_t set = SignalSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int WaitForSignal() {
  sigset_t set = SignalSet();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

int WaitForStopSignal() {
  int sig = 0;
  while ((sig = WaitForSignal()) == SIGHUP) {
  }
  return sig;
}

}  // namespace courier::server
