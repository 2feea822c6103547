/**
 * IEEE 754 binary16 conversions for every place f16 leaves the host as bits
 * (CUDA `__half` and WebGPU f16 buffers, safetensors F16 data); on the host
 * the interpreter keeps f16 values in Float32Arrays.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The binary16 bits nearest to `x` (round to nearest, ties to even; overflow
 * to infinity; NaN kept quiet).
 *
 * @example
 * toHalfBits(1); // 0x3c00
 */
export function toHalfBits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  // Unbiased exponent; half normals cover [-14, 15].
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal half: keep 10 mantissa bits, round the 13 dropped ones to nearest even.
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // may carry into the exponent (correct: rounds up to the next binade or inf)
    return sign | h;
  }
  if (e < -25) return sign; // below half the smallest subnormal: rounds to zero
  // Subnormal half: value = m * 2^-24 with the implicit leading 1 made explicit.
  const full = mant | 0x800000;
  const shift = -e - 14 + 13; // bits dropped from the 24-bit significand
  let h = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && h & 1)) h++;
  return sign | h;
}

/**
 * The value of binary16 bits.
 *
 * @example
 * fromHalfBits(0x3c00); // 1
 */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
