// tests/conformance/conformance_suite.h: how a conformance suite is written
// once and run against every implementation of an interface.
//
// A suite is a list of cases. Each case is a function of the adapter's
// factory, and it joins its suite where it is written, titled by the rule it
// checks:
//
//   COURIER_MESSAGE_STORE_CASE(AckIsCumulative, "ack is cumulative") {
//     Harness h(factory);
//     ...
//   }
//
// An adapter runs every case of a suite with one line in one of its test
// files, naming itself and its factory:
//
//   COURIER_MESSAGE_STORE_CONFORMANCE("sqlite", MessageFixture)
//
// which registers one Catch2 test case per case, named
// "<Interface>[<adapter>]: <title>". The same suite may run several times in
// one binary under other names (a second configuration of the adapter), and a
// suite's optional part (durability) is a second suite an adapter opts into.
// The suites: message_store_suite.h, account_store_suite.h and
// tests/presence/presence_store_suite.h.
#ifndef COURIER_TESTS_CONFORMANCE_CONFORMANCE_SUITE_H_
#define COURIER_TESTS_CONFORMANCE_CONFORMANCE_SUITE_H_

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace courier::conformance {

// The cases of one suite, in the order they are written; each takes a
// `Factory`. Filled and read during static initialization, single-threaded.
template <class Factory>
class Suite {
 public:
  using Body = void (*)(const Factory& factory);

  // Test cases are named "<interface>[<adapter>]: <title>" and carry `tags`
  // plus the case's own.
  Suite(std::string interface, std::string tags)
      : interface_(std::move(interface)), tags_(std::move(tags)) {}
  Suite(const Suite&) = delete;
  Suite& operator=(const Suite&) = delete;

  // Adds a case (the case macros call this). Returns true.
  bool Add(const char* title, const char* tags, Body body, Catch::SourceLineInfo where) {
    cases_.push_back(Case{title, tags, body, where});
    return true;
  }

  // Registers one Catch2 test case per case, each run on `factory`.
  // Returns true.
  bool RunOn(const std::string& adapter, Factory factory) const {
    auto shared = std::make_shared<const Factory>(std::move(factory));
    for (const Case& c : cases_) {
      const std::string name = interface_ + "[" + adapter + "]: " + c.title;
      const std::string tags = tags_ + c.tags;
      Catch::AutoReg registered(new Invoker(c.body, shared), c.where, Catch::StringRef(),
                                Catch::NameAndTags(name, tags));
    }
    return true;
  }

 private:
  struct Case {
    const char* title;
    const char* tags;
    Body body;
    Catch::SourceLineInfo where;
  };

  class Invoker final : public Catch::ITestInvoker {
   public:
    Invoker(Body body, std::shared_ptr<const Factory> factory)
        : body_(body), factory_(std::move(factory)) {}
    void invoke() const override { body_(*factory_); }

   private:
    Body body_;
    std::shared_ptr<const Factory> factory_;
  };

  std::string interface_;
  std::string tags_;
  std::vector<Case> cases_;
};

}  // namespace courier::conformance

// Declares the case `fn` of the suite `suite()` (a function returning a
// Suite<Factory>&) and opens its body, where `factory` names the adapter's
// factory. For the suites' own case macros.
#define COURIER_CONFORMANCE_CASE_(suite, Factory, fn, title, tags)                   \
  inline void fn(const Factory& factory);                                           \
  inline const bool fn##Registered_ = suite().Add(title, tags, &fn, CATCH_INTERNAL_LINEINFO); \
  inline void fn(const Factory& factory)

#define COURIER_CONFORMANCE_CAT2_(a, b) a##b
#define COURIER_CONFORMANCE_CAT_(a, b) COURIER_CONFORMANCE_CAT2_(a, b)

// Runs the suite `suite()` on an adapter: at namespace scope of a test file.
// For the suites' own CONFORMANCE macros.
#define COURIER_CONFORMANCE_RUN_(suite, Factory, name, factory)                            \
  [[maybe_unused]] static const bool COURIER_CONFORMANCE_CAT_(courier_conformance_run_,     \
                                                              __COUNTER__) =                \
      suite().RunOn(name, Factory(factory));

#endif  // COURIER_TESTS_CONFORMANCE_CONFORMANCE_SUITE_H_
