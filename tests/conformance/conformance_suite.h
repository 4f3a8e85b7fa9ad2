// tests/conformance/conformance_suite.h: how a conformance suite is written
// once and run against every implementation of an interface.
//
// A suite is a list of cases. Each case is a function of the adapter's
// factory, and it joins its suite where it is written, titled by the rule it
// checks:
//
//   COURIER_CONFORMANCE_CASE(AckIsCumulative, "ack is cumulative") {
//     Harness h(factory);
//     ...
//   }
//
// (in a namespace where `Factory` names the suite's factory type)
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

// The cases of every suite whose cases take a `Factory`, in the order they
// are written: the suite's own cases, and its durability cases (for adapters
// whose data outlives a close). Filled and read during static
// initialization, single-threaded.
template <class Factory>
class Suite {
 public:
  using Body = void (*)(const Factory& factory);

  // The one Suite of its Factory type.
  static Suite& Get() {
    static Suite suite;
    return suite;
  }

  // Adds a case (COURIER_CONFORMANCE_CASE does). Returns true.
  bool Add(bool durability, const char* title, const char* tags, Body body,
           Catch::SourceLineInfo where) {
    cases_.push_back(Case{durability, title, tags, body, where});
    return true;
  }

  // Registers one Catch2 test case per case (the durability cases when
  // `durability`, else the others), named "<interface>[<adapter>]: <title>",
  // tagged `tags` plus the case's own, run on `factory`. Returns true.
  bool RunOn(bool durability, const std::string& interface, const std::string& tags,
             const std::string& adapter, Factory factory) const {
    auto shared = std::make_shared<const Factory>(std::move(factory));
    for (const Case& c : cases_) {
      if (c.durability != durability) continue;
      const std::string name = interface + "[" + adapter + "]: " + c.title;
      Catch::AutoReg registered(new Invoker(c.body, shared), c.where, Catch::StringRef(),
                                Catch::NameAndTags(name, tags + c.tags));
    }
    return true;
  }

 private:
  Suite() = default;

  struct Case {
    bool durability;
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

  std::vector<Case> cases_;
};

}  // namespace courier::conformance

// Declares the case `fn` (title, then optional Catch2 tags) of the suite
// whose cases take a `Factory` (a name visible where the case is written)
// and opens its body, where `factory` is the adapter's factory.
#define COURIER_CONFORMANCE_CASE(fn, ...) COURIER_CONFORMANCE_CASE_(false, fn, __VA_ARGS__, "")
// The same for a durability case: reopening the store on the same data.
#define COURIER_CONFORMANCE_DURABILITY_CASE(fn, ...) \
  COURIER_CONFORMANCE_CASE_(true, fn, __VA_ARGS__, "")

#define COURIER_CONFORMANCE_CASE_(durability, fn, title, tags, ...)                      \
  inline void fn(const Factory& factory);                                               \
  inline const bool fn##Registered_ = ::courier::conformance::Suite<Factory>::Get().Add( \
      durability, title, tags, &fn, CATCH_INTERNAL_LINEINFO);                            \
  inline void fn(const Factory& factory)

#define COURIER_CONFORMANCE_CAT2_(a, b) a##b
#define COURIER_CONFORMANCE_CAT_(a, b) COURIER_CONFORMANCE_CAT2_(a, b)

// Runs the cases of the suite of `Interface` (its durability cases when
// `durability`) on an adapter, at namespace scope of a test file: test cases
// "<Interface>[<name>]: <title>", tags [conformance]`tag`, each given
// ::courier::conformance::<Interface>Factory(factory). For the suites'
// CONFORMANCE macros.
#define COURIER_CONFORMANCE_RUN_(Interface, tag, durability, name, factory)                 \
  [[maybe_unused]] static const bool COURIER_CONFORMANCE_CAT_(courier_conformance_run_,    \
                                                              __COUNTER__) =               \
      ::courier::conformance::Suite<::courier::conformance::Interface##Factory>::Get().RunOn( \
          durability, #Interface, "[conformance]" tag, name,                               \
          ::courier::conformance::Interface##Factory(factory));

#endif  // COURIER_TESTS_CONFORMANCE_CONFORMANCE_SUITE_H_
