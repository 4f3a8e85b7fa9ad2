// fuzz_check.h: FUZZ_CHECK, an assertion that stays on in every build of a
// fuzz target and says what broke before it aborts (libFuzzer then saves the
// input as crash-<sha1>).
#ifndef COURIER_TESTS_FUZZ_FUZZ_CHECK_H_
#define COURIER_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                                   \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__,       \
                   __LINE__, #cond);                                            \
      std::fprintf(stderr, "  " __VA_ARGS__);                                   \
      std::fprintf(stderr, "\n");                                               \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

#endif  // COURIER_TESTS_FUZZ_FUZZ_CHECK_H_
