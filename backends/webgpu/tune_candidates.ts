/**
 * The schedule candidates `npm run webgpu:tune` times by default (data, not
 * code: `--candidates file.json` replaces them with a list of the same shape).
 * Each overrides some `ScheduleKnobs` (codegen/schedule.ts); the rest keep
 * the WGSL defaults. The list spans what matters on different adapters:
 * matmul tiles and micro-tiles (register work per thread vs barriers per K
 * step: CPU-hosted adapters such as SwiftShader favour few barriers and more
 * work per invocation), tree-reduction width and when a row gets a whole
 * workgroup, and the elementwise workgroup size.
 */
import type { TuneCandidate } from "./tune";

export const WEBGPU_TUNE_CANDIDATES: readonly TuneCandidate[] = [
  { name: "default", knobs: {} },
  { name: "matmul 32x32x16, 4x4 per thread", knobs: { tileM: 32, tileN: 32, tileK: 16, microM: 4, microN: 4 } },
  {
    name: "matmul 64x64x32, 8x8 blocked",
    knobs: { tileM: 64, tileN: 64, tileK: 32, microM: 8, microN: 8, stridedMicroTile: false },
  },
  { name: "matmul 64x64x8, 4x4 per thread", knobs: { tileM: 64, tileN: 64, tileK: 8, microM: 4, microN: 4 } },
  { name: "matmul 128x64x16, 8x4 per thread", knobs: { tileM: 128, tileN: 64, tileK: 16, microM: 8, microN: 4 } },
  { name: "reductions: 64 threads, rows >= 256", knobs: { reduceWorkgroup: 64, workgroupReduceMinLength: 256 } },
  { name: "reductions: one thread per row", knobs: { workgroupReduceMinLength: 2 ** 30 } },
  { name: "elementwise 64 threads", knobs: { elementwiseWorkgroup: 64 } },
];
