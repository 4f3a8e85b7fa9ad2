// chacha20_lanes.h (internal): ChaCha20 keystream blocks (RFC 8439, section
// 2.3: 20 rounds, a 32-bit block counter, a 96-bit nonce) of many independent
// inputs at once.
//
// Why. The body cipher (courier/body_cipher.h) opens a drained page of short
// bodies one by one: each needs 2-4 keystream blocks under its own nonce
// (and often its own key), and one keystream call of libsodium's for 256
// bytes cost ≈ 240 ns on the machine of bench/README (eighteenth session),
// its single-block path ≈ 175 ns a block. Here every job is one block and
// the blocks of W jobs go through the rounds side by side, one job per lane
// of a W-lane vector of 32-bit words (GCC/Clang vector extensions), chosen
// at run time: 16 lanes where the CPU has AVX-512 (F and BW), 8 where it has
// AVX2, else 4 (SSE2 on x86-64, NEON on ARM, scalar code elsewhere). A 100-
// byte body's three blocks: ≈ 60 ns in 16 lanes, ≈ 110-140 in 8, against
// libsodium's ≈ 225-240 for its 256-byte call (thread CPU time, load 8,
// bench/README's eighteenth session). The output is the same bytes as
// libsodium's crypto_stream_chacha20_ietf_xor_ic gives for the same key,
// nonce and counter (checked by engine_test [cipher]).
//
// Thread-safety: no state; any threads at once.
// Blocking: never.
#ifndef COURIER_CORE_SRC_CHACHA20_LANES_H_
#define COURIER_CORE_SRC_CHACHA20_LANES_H_

#include <cstdint>

#include "absl/types/span.h"

namespace courier::internal {

// One 64-byte keystream block: ChaCha20(key, nonce) at block `counter`.
// The pointers are borrowed for the call; `out` may not overlap the inputs
// of any job.
struct ChaChaBlockJob {
  const unsigned char* key = nullptr;    // 32 bytes
  const unsigned char* nonce = nullptr;  // 12 bytes
  std::uint32_t counter = 0;
  unsigned char* out = nullptr;          // 64 bytes written
};

// Writes the block of every job, in no particular order.
void ChaCha20Blocks(absl::Span<const ChaChaBlockJob> jobs);

// The lanes ChaCha20Blocks uses on this CPU (4, 8 or 16), for tests.
int ChaCha20Lanes();

// ChaCha20Blocks in `lanes` lanes, so that tests check every width this CPU
// runs, not only its widest. REQUIRES: lanes is 4, 8 or 16, and at most
// ChaCha20Lanes() (a wider one would use instructions the CPU may not have).
void ChaCha20BlocksInLanes(int lanes, absl::Span<const ChaChaBlockJob> jobs);

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_CHACHA20_LANES_H_
