// courier-cli: writing result lines to standard output.
//
// Ownership: none. Thread-safety: single-threaded. Blocking: on stdout.
#ifndef COURIER_EXAMPLES_CLI_OUTPUT_H_
#define COURIER_EXAMPLES_CLI_OUTPUT_H_

#include <cstdio>
#include <string_view>

#include "absl/status/status.h"

namespace courier_cli {

// Writes `line` and a newline to stdout and flushes, so that a reader has the line
// before we tell the server we stored it. Errors: kDataLoss when stdout is gone
// (e.g. a closed pipe): the caller must not ack what it could not print.
inline absl::Status PrintLine(std::string_view line) {
  if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fputc('\n', stdout) == EOF ||
      std::fflush(stdout) != 0) {
    return absl::DataLossError("cannot write to standard output");
  }
  return absl::OkStatus();
}

}  // namespace courier_cli

#endif  // COURIER_EXAMPLES_CLI_OUTPUT_H_
