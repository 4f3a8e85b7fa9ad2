// signals.h: SIGTERM and SIGINT as a blocking wait.
//
// BlockStopSignals must run before any thread starts, so that every thread
// inherits the mask and the signals stay pending for WaitForStopSignal.
// Thread-safety: BlockStopSignals once, from main; WaitForStopSignal from one
//   thread. Blocking: WaitForStopSignal blocks until a signal arrives.
#ifndef COURIER_EXAMPLES_SERVER_SIGNALS_H_
#define COURIER_EXAMPLES_SERVER_SIGNALS_H_

namespace courier::server {

// Blocks SIGTERM and SIGINT in the calling thread (and so in every thread it
// starts later) and ignores SIGPIPE.
void BlockStopSignals();

// Waits for SIGTERM or SIGINT; returns its number.
int WaitForStopSignal();

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_SIGNALS_H_
