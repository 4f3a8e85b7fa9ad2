// Catch2 main for live-server suites: when the server's URL variable (named
// by COURIER_LIVE_ENV at compile time) is unset, prints
// "SKIPPED: <name>: <variable> not set" and exits 77, which ctest reports
// as skipped (SKIP_RETURN_CODE 77). Listing test names always works, so that
// catch_discover_tests registers every case by name.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--list", 6) == 0) listing = true;
  }
  const char* url = std::getenv(COURIER_LIVE_ENV);
  if (!listing && (url == nullptr || *url == '\0')) {
    std::printf("SKIPPED: %s: %s not set\n", COURIER_LIVE_NAME, COURIER_LIVE_ENV);
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
