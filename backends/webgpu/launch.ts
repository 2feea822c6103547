/**
 * Launch geometry. Kernels are written for a 1-D count of workgroups; WebGPU
 * allows at most `maxComputeWorkgroupsPerDimension` (65535 by default) per
 * dimension, so the runtime folds the count into (x, y, z). The emitted WGSL
 * unfolds the workgroup id back to 1-D and lets the few surplus groups of the
 * rounded-up fold exit at once (see `codegen/emit/wgsl.ts`).
 */

/**
 * Folds `groups` workgroups into a 3-D dispatch with each dimension <= `maxPerDim`
 * and as little surplus as possible (x * y * z - groups < y * z).
 * @example foldGrid(100_000, 65535) // [50000, 2, 1]
 */
export function foldGrid(groups: number, maxPerDim: number): [number, number, number] {
  if (!Number.isInteger(groups) || groups < 0)
    throw new RangeError(`launch: workgroup count ${groups} must be a non-negative integer`);
  if (groups <= maxPerDim) return [groups, 1, 1];
  const z = Math.ceil(groups / (maxPerDim * maxPerDim));
  if (z > maxPerDim) throw new RangeError(`launch: ${groups} workgroups exceed the device's ${maxPerDim}^3 grid`);
  const plane = Math.ceil(groups / z);
  const y = Math.ceil(plane / maxPerDim);
  const x = Math.ceil(plane / y);
  return [x, y, z];
}

/** Checks that every thread index of a launch fits the i32 arithmetic of the kernels. */
export function checkIndexRange(kernel: string, groups: number, workgroupSize: number): void {
  if (groups * workgroupSize > 2 ** 31 - 1) {
    throw new RangeError(
      `webgpu backend: kernel "${kernel}" launches ${groups} workgroups of ${workgroupSize} threads, ` +
        "more than the 2^31 - 1 thread indices WGSL's i32 arithmetic can address; split the computation into smaller pieces",
    );
  }
}
