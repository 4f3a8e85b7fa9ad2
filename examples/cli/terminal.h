// courier-cli: the terminal (termios, no curses) and reading passwords.
//
// Ownership: RawTerminal restores the terminal it changed when destroyed.
// Thread-safety: single-threaded. Blocking: the password reads block on the
// terminal or the file.
#ifndef COURIER_EXAMPLES_CLI_TERMINAL_H_
#define COURIER_EXAMPLES_CLI_TERMINAL_H_

#include <termios.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace courier_cli {

// Reads a password from the controlling terminal (/dev/tty) with echo off, after
// printing `prompt` there. Ctrl-C gives kCancelled (echo restored).
// Errors: kFailedPrecondition when there is no terminal, kCancelled, kUnavailable.
absl::StatusOr<std::string> PromptPassword(const std::string& prompt);

// The first line of `path` ("-": standard input), without its line end.
// Errors: kNotFound / kUnavailable naming the file, kInvalidArgument when empty.
absl::StatusOr<std::string> ReadPasswordFile(const std::string& path);

// Puts the terminal on standard input in raw mode (no echo, no line editing, no
// signals from keys: Ctrl-C arrives as a byte) and standard output on the
// alternate screen; both undone by the destructor.
class RawTerminal {
 public:
  RawTerminal() = default;
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  ~RawTerminal() { Restore(); }

  // Errors: kFailedPrecondition when stdin or stdout is not a terminal.
  absl::Status Enter();
  void Restore();

  // The window's size; 24 x 80 when the terminal does not say.
  static void Size(int& rows, int& cols);

  // Writes all of `text` to standard output.
  static void Write(const std::string& text);

 private:
  bool active_ = false;
  struct termios saved_ {};
};

}  // namespace courier_cli

#endif  // COURIER_EXAMPLES_CLI_TERMINAL_H_
