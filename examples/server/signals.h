// signals.h: SIGTERM, SIGINT and SIGHUP as a blocking wait.
//
// BlockStopSignals must run before any thread starts, so that every thread
// inherits the mask and the signals stay pending for WaitForSignal.
// Thread-safety: BlockStopSignals once, from main; WaitForSignal from one
//   thread. Blocking: WaitForSignal blocks until a signal arrives.
#ifndef COURIER_EXAMPLES_SERVER_SIGNALS_H_
#define COURIER_EXAMPLES_SERVER_SIGNALS_H_

namespace courier::server {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and so in every
// thread it starts later) and ignores SIGPIPE.
void BlockStopSignals();

// Waits for SIGTERM, SIGINT or SIGHUP; returns its number. (SIGHUP: reload
// the TLS certificate and key; the other two: stop.)
int WaitForSignal();

// Waits for SIGTERM or SIGINT (SIGHUPs in between are consumed); returns its
// number.
int WaitForStopSignal();

}  // namespace courier::server

#endif  // COURIER_EXAMPLES_SERVER_SIGNALS_H_
