// inline_function.h (internal): a move-only callable kept inside the object.
//
// InlineFunction<void(Arg), N> holds any callable `f` with `std::move(f)(arg)`
// valid. A callable of at most N bytes (and nothrow-movable, at most
// max_align_t aligned) lives in the object itself: no heap allocation, which
// absl::AnyInvocable makes for anything above two pointers. A larger one is
// kept on the heap. Used for the commit queue's completions (one per store
// op on the hot path: a session pointer, a cid and a member pointer fit).
// Thread-safety: none (a value type). Blocking: never.
#ifndef COURIER_CORE_SRC_INLINE_FUNCTION_H_
#define COURIER_CORE_SRC_INLINE_FUNCTION_H_

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace courier::internal {

template <typename Signature, std::size_t N>
class InlineFunction;

template <typename Arg, std::size_t N>
class InlineFunction<void(Arg), N> {
 public:
  InlineFunction() = default;
  InlineFunction(std::nullptr_t) {}  // NOLINT: as AnyInvocable

  template <typename F, typename D = std::decay_t<F>,
            typename = std::enable_if_t<!std::is_same_v<D, InlineFunction> &&
                                        std::is_invocable_v<D&&, Arg>>>
  InlineFunction(F&& f) {  // NOLINT: implicit, as AnyInvocable
    if constexpr (kFits<D>) {
      ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
      ops_ = &kInlineOps<D>;
    } else {
      ::new (static_cast<void*>(storage_)) D*(new D(std::forward<F>(f)));
      ops_ = &kHeapOps<D>;
    }
  }

  InlineFunction(InlineFunction&& other) noexcept : ops_(other.ops_) {
    if (ops_ != nullptr) ops_->move(other.storage_, storage_);
    other.ops_ = nullptr;
  }
  InlineFunction& operator=(InlineFunction&& other) noexcept {
    if (this != &other) {
      Reset();
      ops_ = other.ops_;
      if (ops_ != nullptr) ops_->move(other.storage_, storage_);
      other.ops_ = nullptr;
    }
    return *this;
  }
  InlineFunction(const InlineFunction&) = delete;
  InlineFunction& operator=(const InlineFunction&) = delete;
  ~InlineFunction() { Reset(); }

  explicit operator bool() const { return ops_ != nullptr; }

  // REQUIRES: holds a callable. Calls it once, as an rvalue.
  void operator()(Arg arg) && { ops_->invoke(storage_, std::forward<Arg>(arg)); }

 private:
  struct Ops {
    void (*invoke)(void* self, Arg&& arg);
    void (*move)(void* from, void* to);  // move-constructs `to`, destroys `from`
    void (*destroy)(void* self);
  };

  template <typename D>
  static constexpr bool kFits = sizeof(D) <= N && alignof(D) <= alignof(std::max_align_t) &&
                                std::is_nothrow_move_constructible_v<D>;

  template <typename D>
  static D& In(void* p) {
    return *std::launder(static_cast<D*>(p));
  }

  template <typename D>
  static constexpr Ops kInlineOps = {
      [](void* self, Arg&& arg) { std::move(In<D>(self))(std::forward<Arg>(arg)); },
      [](void* from, void* to) {
        ::new (to) D(std::move(In<D>(from)));
        In<D>(from).~D();
      },
      [](void* self) { In<D>(self).~D(); },
  };
  template <typename D>
  static constexpr Ops kHeapOps = {
      [](void* self, Arg&& arg) { std::move(*In<D*>(self))(std::forward<Arg>(arg)); },
      [](void* from, void* to) { ::new (to) D*(In<D*>(from)); },
      [](void* self) { delete In<D*>(self); },
  };

  void Reset() {
    if (ops_ != nullptr) ops_->destroy(storage_);
    ops_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char storage_[N];
  const Ops* ops_ = nullptr;
};

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_INLINE_FUNCTION_H_
