// poly1305_lanes.h (internal): Poly1305 tags (RFC 8439, section 2.5) of many
// independent messages at once.
//
// Why. After ChaCha20 went into lanes (chacha20_lanes.h), libsodium's
// Poly1305 was the body cipher's largest part in W2's drain: ≈ 96 ns for
// the 160 bytes a 100-byte body's tag covers, 13 % of a delivery thread
// (bench/README, eighteenth session). Here the messages of W jobs go
// through Poly1305's blocks side by side, one job per lane of a W-lane
// vector of 64-bit words (GCC/Clang vector extensions): the accumulator
// and the key `r` in five 26-bit limbs, a block's product as 25 32x32->64
// multiplies per lane (one vpmuludq for W lanes on x86). Chosen at run
// time: 8 lanes where the CPU has AVX-512 F, 4 with AVX2, else libsodium's
// call per job (plain vector code without a 32x32->64 multiply measured
// 4x slower than libsodium). One 160-byte tag, thread CPU time, load 9
// (bench/README, nineteenth session): 44-49 ns in 8 lanes, 80-90 in 4,
// libsodium 86-117. Jobs of different lengths share a group: a lane whose
// message ended keeps its accumulator while the others go on. The final
// reduction and `s` are added per job in scalar code. The tags are the
// same bytes as libsodium's crypto_onetimeauth_poly1305 gives (checked by
// engine_test [cipher] for every length 0-300 and every width this CPU
// runs).
//
// The limbs of `r`, `s` and the accumulator pass through registers and the
// stack and are not wiped (libsodium's one-shot call wipes its state).
//
// Thread-safety: no state; any threads at once.
// Blocking: never. Allocates nothing.
#ifndef COURIER_CORE_SRC_POLY1305_LANES_H_
#define COURIER_CORE_SRC_POLY1305_LANES_H_

#include <cstddef>

#include "absl/types/span.h"

namespace courier::internal {

// One tag: Poly1305 with the one-time key `key` (r || s, 32 bytes) over
// message[0..size). The pointers are borrowed for the call; `tag` may not
// overlap the inputs of any job.
struct Poly1305Job {
  const unsigned char* key = nullptr;      // 32 bytes
  const unsigned char* message = nullptr;  // `size` bytes (may be null when 0)
  std::size_t size = 0;
  unsigned char* tag = nullptr;            // 16 bytes written
};

// Writes the tag of every job.
void Poly1305Tags(absl::Span<const Poly1305Job> jobs);

// The lanes Poly1305Tags uses on this CPU (1: libsodium's, 4 or 8), for
// tests.
int Poly1305Lanes();

// Poly1305Tags in `lanes` lanes: 1 (libsodium per job), 4 (AVX2) or 8
// (AVX-512), so that tests check every path this CPU runs. REQUIRES:
// lanes is 1, 4 or 8, and at most Poly1305Lanes().
void Poly1305TagsInLanes(int lanes, absl::Span<const Poly1305Job> jobs);

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_POLY1305_LANES_H_
