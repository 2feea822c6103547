/**
 * The fragment layout of the warp-level tensor-core instruction the CUDA
 * tensor-core schedule uses, `mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32`,
 * as data: which thread of the warp holds which element of A (16 x 8, row
 * major), B (8 x 8, "col": element (k, n)) and C/D (16 x 8) in which register.
 * One table, read both by the emitter (`cuda_tensor_core.ts` renders each
 * coordinate as C++ over the lane's `gid` and `tig`) and by the CPU tests
 * (test/codegen/cuda_mma_layout.test.ts simulates the warp's mma and the whole
 * block tile with it against a plain matmul). With lane = threadIdx.x % 32:
 * gid = lane >> 2 (the "groupID" of the PTX ISA) and tig = lane & 3
 * ("threadID_in_group"). The table follows the PTX ISA's description of the
 * m16n8k8 .tf32 fragments; that the hardware agrees is checked only on a GPU
 * (`npm run cuda:check -- --tensor-cores`).
 */

/** An index as a linear form of the lane's coordinates: gid * gidScale + tig * tigScale + offset. */
export interface LaneForm {
  readonly gid: number;
  readonly tig: number;
  readonly offset: number;
}

/** Where register `reg` of a fragment sits in its matrix. */
export interface FragmentSlot {
  readonly reg: number;
  readonly row: LaneForm;
  readonly col: LaneForm;
}

/** Shape of one mma: M x N outputs, depth K. */
export const MMA_M = 16;
export const MMA_N = 8;
export const MMA_K = 8;
export const WARP_SIZE = 32;

const form = (gid: number, tig: number, offset: number): LaneForm => ({ gid, tig, offset });

/** The m16n8k8 TF32 fragments: A (rows m, cols k), B (rows k, cols n), C/D (rows m, cols n). */
export const MMA_FRAGMENTS: {
  readonly a: readonly FragmentSlot[];
  readonly b: readonly FragmentSlot[];
  readonly c: readonly FragmentSlot[];
} = {
  a: [
    { reg: 0, row: form(1, 0, 0), col: form(0, 1, 0) },
    { reg: 1, row: form(1, 0, 8), col: form(0, 1, 0) },
    { reg: 2, row: form(1, 0, 0), col: form(0, 1, 4) },
    { reg: 3, row: form(1, 0, 8), col: form(0, 1, 4) },
  ],
  b: [
    { reg: 0, row: form(0, 1, 0), col: form(1, 0, 0) },
    { reg: 1, row: form(0, 1, 4), col: form(1, 0, 0) },
  ],
  c: [
    { reg: 0, row: form(1, 0, 0), col: form(0, 2, 0) },
    { reg: 1, row: form(1, 0, 0), col: form(0, 2, 1) },
    { reg: 2, row: form(1, 0, 8), col: form(0, 2, 0) },
    { reg: 3, row: form(1, 0, 8), col: form(0, 2, 1) },
  ],
};

/** The lane's coordinates (gid, tig). */
export function laneCoords(lane: number): { gid: number; tig: number } {
  return { gid: lane >> 2, tig: lane & 3 };
}

/** A lane form's value for `lane`. */
export function evalLaneForm(f: LaneForm, lane: number): number {
  const { gid, tig } = laneCoords(lane);
  return f.gid * gid + f.tig * tig + f.offset;
}

/** A lane form as C++ over variables `gid` and `tig` (e.g. "(gid + 8)", "(tig * 2 + 1)"). */
export function laneFormText(f: LaneForm, gid = "gid", tig = "tig"): string {
  const terms = [
    ...(f.gid ? [f.gid === 1 ? gid : `${gid} * ${f.gid}`] : []),
    ...(f.tig ? [f.tig === 1 ? tig : `${tig} * ${f.tig}`] : []),
    ...(f.offset || (!f.gid && !f.tig) ? [String(f.offset)] : []),
  ];
  return terms.length === 1 ? terms[0]! : `(${terms.join(" + ")})`;
}

/**
 * The block tile of the tensor-core schedule: 4 warps in a 2 x 2 grid, each a
 * 32 x 32 warp tile of 2 x 4 mma tiles, over a 64 x 64 output tile, staged
 * TILE_K deep per pipeline step (two shared-memory buffers, cp.async).
 */
export const TC_TILE = {
  rows: 64,
  cols: 64,
  k: 16,
  warpsM: 2,
  warpsN: 2,
  warpRows: 32,
  warpCols: 32,
  threads: 128,
} as const;

/** mma tiles per warp tile, along M and N. */
export const TC_MMA_PER_WARP = { m: TC_TILE.warpRows / MMA_M, n: TC_TILE.warpCols / MMA_N } as const;

/** Origin (row, col) inside the block tile of warp `warp`'s 32 x 32 tile (warps row-major in the 2 x 2 grid). */
export function warpTileOrigin(warp: number): { row: number; col: number } {
  return { row: Math.floor(warp / TC_TILE.warpsN) * TC_TILE.warpRows, col: (warp % TC_TILE.warpsN) * TC_TILE.warpCols };
}

/**
 * Shared-memory layout of one staged buffer (floats). `mMajor` (A of dense and grouped GEMMs, rows of the
 * depth): [64 rows][TILE_K + 4], so a fragment load (8 rows x 4 columns of lanes) hits 32 distinct banks;
 * `kMajor` (B panels, and A of the weight gradient): [TILE_K rows][64 + 8], the same for 4 rows x 8 columns.
 * Row strides are multiples of 4 floats, so 16-byte copies stay aligned.
 */
export const TC_SMEM = (() => {
  const mMajorStride = TC_TILE.k + 4;
  const kMajorStride = TC_TILE.cols + 8;
  return {
    mMajorStride,
    mMajorFloats: TC_TILE.rows * mMajorStride,
    kMajorStride,
    kMajorFloats: TC_TILE.k * kMajorStride,
  };
})();

/** The shared bank (of 32 four-byte banks) of float offset `i`. */
export const bankOf = (i: number): number => i % 32;
