/**
 * The `__device__` helper functions every CUDA translation unit of moeforge
 * starts with. Each one pins down a case where plain C++ differs from the
 * interpreter (the oracle): integer division by zero, NaN propagation of
 * max/min, the numerically stable sigmoid, truthiness of NaN. The random-number
 * helpers are line-for-line the same algorithm as `dsl/primitives/random.ts`.
 */

/** Include guard macro, so several bundles can be concatenated into one `.cu`. */
export const CUDA_PRELUDE_GUARD = "MOEFORGE_CUDA_PRELUDE";

/**
 * The prelude text. Function names start with `mf_` so they cannot collide
 * with kernel names or user variables (emitted variables never start with `mf_`).
 */
export const CUDA_PRELUDE = `#ifndef ${CUDA_PRELUDE_GUARD}
#define ${CUDA_PRELUDE_GUARD}
#include <cuda_fp16.h>
#include <stdint.h>

// ---- moeforge device prelude: semantics shared with the interpreter ----
// Host-callable too, so the helpers can be checked against the interpreter without a GPU.
#define MF_FN __host__ __device__ __forceinline__
// Loop unrolling hints for the device pass only: the host compiler (gcc -Wall) rejects the unknown pragma.
#ifdef __CUDA_ARCH__
#define MF_UNROLL _Pragma("unroll")
#else
#define MF_UNROLL
#endif

// Math.max / Math.min: NaN in either operand gives NaN (fmaxf would drop it).
MF_FN float mf_max(float a, float b) { return (a != a || b != b) ? a + b : fmaxf(a, b); }
MF_FN float mf_min(float a, float b) { return (a != a || b != b) ? a + b : fminf(a, b); }
MF_FN int mf_max(int a, int b) { return a > b ? a : b; }
MF_FN int mf_min(int a, int b) { return a < b ? a : b; }
MF_FN unsigned int mf_max(unsigned int a, unsigned int b) { return a > b ? a : b; }
MF_FN unsigned int mf_min(unsigned int a, unsigned int b) { return a < b ? a : b; }
MF_FN long long mf_max(long long a, long long b) { return a > b ? a : b; }
MF_FN long long mf_min(long long a, long long b) { return a < b ? a : b; }

// Integer division and remainder truncate toward zero; dividing by zero gives 0
// and INT_MIN / -1 wraps, as an Int32Array store of Math.trunc(a / b) does.
MF_FN int mf_div(int a, int b) {
  return b == 0 ? 0 : (b == -1 ? (int)(0u - (unsigned int)a) : a / b);
}
MF_FN int mf_rem(int a, int b) { return (b == 0 || b == -1) ? 0 : a % b; }
MF_FN unsigned int mf_div(unsigned int a, unsigned int b) { return b == 0u ? 0u : a / b; }
MF_FN unsigned int mf_rem(unsigned int a, unsigned int b) { return b == 0u ? 0u : a % b; }

// sign: NaN and zeros give 0.
MF_FN float mf_sign(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }
MF_FN int mf_sign(int x) { return (x > 0) - (x < 0); }
MF_FN long long mf_sign(long long x) { return (long long)((x > 0) - (x < 0)); }

// The logistic function without overflow for large |x|.
MF_FN float mf_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

// Truthiness (cast to bool): zero and NaN are false.
MF_FN bool mf_to_bool(float x) { return x != 0.0f && x == x; }
MF_FN bool mf_to_bool(__half x) { return mf_to_bool(__half2float(x)); }
MF_FN bool mf_to_bool(int x) { return x != 0; }
MF_FN bool mf_to_bool(unsigned int x) { return x != 0u; }
MF_FN bool mf_to_bool(long long x) { return x != 0; }

// Threefry-2x32 with 20 rounds (Salmon et al. 2011, "Parallel random numbers:
// as easy as 1, 2, 3"): the same rounds, rotations and key schedule as
// dsl/primitives/random.ts, so kernels draw bit-identical numbers.
MF_FN unsigned int mf_rotl32(unsigned int x, int r) { return (x << r) | (x >> (32 - r)); }
MF_FN uint2 mf_threefry2x32(unsigned int k0, unsigned int k1, unsigned int c0, unsigned int c1) {
  const unsigned int ks[3] = {k0, k1, k0 ^ k1 ^ 0x1bd11bdau};
  const int rotations[8] = {13, 15, 26, 6, 17, 29, 16, 24};
  unsigned int x0 = c0 + ks[0];
  unsigned int x1 = c1 + ks[1];
  MF_UNROLL
  for (int group = 0; group < 5; group++) {
    MF_UNROLL
    for (int r = 0; r < 4; r++) {
      x0 += x1;
      x1 = mf_rotl32(x1, rotations[(group % 2) * 4 + r]);
      x1 ^= x0;
    }
    x0 += ks[(group + 1) % 3];
    x1 += ks[(group + 2) % 3] + (unsigned int)(group + 1);
  }
  return make_uint2(x0, x1);
}
MF_FN unsigned int mf_threefry2x32_0(unsigned int k0, unsigned int k1, unsigned int c0, unsigned int c1) {
  return mf_threefry2x32(k0, k1, c0, c1).x;
}
MF_FN unsigned int mf_threefry2x32_1(unsigned int k0, unsigned int k1, unsigned int c0, unsigned int c1) {
  return mf_threefry2x32(k0, k1, c0, c1).y;
}

// bitsToUniform (dsl/primitives/elementwise.ts): the top 24 bits scaled by 2^-24,
// exactly representable in float, in [0, 1).
MF_FN float mf_bits_to_uniform(unsigned int bits) { return (float)(bits >> 8) * 5.9604644775390625e-8f; }
#endif  // ${CUDA_PRELUDE_GUARD}
`;
