// courier/export.h: COURIER_EXPORT marks the public API.
//
// Courier's libraries are compiled with -fvisibility=hidden and
// -fvisibility-inlines-hidden: only declarations marked COURIER_EXPORT (the
// classes and functions of the public headers) are visible outside a shared
// library built from them; the internals (courier::internal, the adapters'
// src/ helpers) are not. Static builds are unaffected.
#ifndef COURIER_CORE_EXPORT_H_
#define COURIER_CORE_EXPORT_H_

#if defined(__GNUC__) || defined(__clang__)
#define COURIER_EXPORT __attribute__((visibility("default")))
#else
#define COURIER_EXPORT
#endif

#endif  // COURIER_CORE_EXPORT_H_
