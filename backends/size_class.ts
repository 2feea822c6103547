/**
 * Size classes for pooled memory (cpu arenas, WebGPU buffers): allocations are
 * rounded up to the next of 2^k * {1, 1.25, 1.5, 1.75}, so a freed block fits
 * later requests up to 25% smaller than it and is reused across nearby shapes
 * (a growing batch, a ragged last step) instead of piling up one exact size
 * per shape.
 */

/**
 * The size class of `bytes`: at least `min`, at most 25% above `bytes`.
 * @example sizeClass(5000, 256) // 5120
 */
export function sizeClass(bytes: number, min: number): number {
  if (bytes <= min) return min;
  const pow = 2 ** Math.floor(Math.log2(bytes));
  const step = [1, 1.25, 1.5, 1.75].find((s) => pow * s >= bytes);
  return step === undefined ? pow * 2 : pow * step;
}
