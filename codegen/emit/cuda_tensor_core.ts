/**
 * Tensor-core GEMM kernels for the CUDA target: a kernel carrying a `Contraction`
 * (set by lowering only under the tensor-core schedule, `ScheduleKnobs.tensorCoreMatmul`,
 * sm_80+) renders as TF32 `mma.sync.m16n8k8` tiles instead of its FMA body:
 * - a 64 x 64 output tile per block of 128 threads (4 warps of 32 x 32, 2 x 4 mma each),
 *   blocks striding over the tiles (so any launch grid covers them);
 * - operands staged in shared memory 16 deep per step, double buffered with `cp.async`
 *   (16-byte copies where the row length is a static multiple of 4, else 4-byte ones;
 *   zero-filled past the edges), the token gather (`aIndex`) read in A's copy;
 * - B from column panels of 64 (`bLayout: "panels"`: no column tail, 16-byte aligned);
 * - f32 accumulators; each output goes to `out` or through the epilogue's statements.
 * Which lane holds which fragment element comes from `cuda_mma_layout.ts` (tested on the CPU by
 * simulation). Accuracy: TF32 keeps 10 mantissa bits of each input (cvt.rna), so products carry a
 * relative error of about 2^-11 each and a sum of K of them ~1e-3 relative in norm; sums are f32.
 * Hardware verification is pending (`npm run cuda:check -- --tensor-cores` on a GPU).
 */
import type { Dim } from "../../dsl/dims";
import type { Contraction, Kernel } from "../kernel_ir";
import { TENSOR_CORE_TILE } from "../schedule";
import {
  laneFormText,
  MMA_FRAGMENTS,
  MMA_K,
  MMA_M,
  MMA_N,
  TC_MMA_PER_WARP,
  TC_SMEM,
  TC_TILE,
  type FragmentSlot,
  type LaneForm,
} from "./cuda_mma_layout";

/** What the CUDA emitter hands the tensor-core renderer. */
export interface TensorCoreContext {
  /** The kernel's sanitised name for an IR identifier (buffers, sizes). */
  ident(name: string): string;
  /** The rendered parameter list (same as the FMA kernel's: the host launcher binds it). */
  readonly params: readonly string[];
  /** The epilogue's statements for one output, its variables bound by `bindings` (C++ declarations). */
  epilogue(bindings: readonly string[], indent: number): string[];
}

/** Device helpers of tensor-core kernels (cp.async, TF32 conversion, mma), once per translation unit. */
export const TENSOR_CORE_PRELUDE = `#ifndef MOEFORGE_TENSOR_CORE_PRELUDE
#define MOEFORGE_TENSOR_CORE_PRELUDE
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "moeforge tensor-core kernels (tensorCoreMatmul) need sm_80 or newer"
#endif
// TF32 of an f32: round to nearest, ties away, 10 mantissa bits kept.
__device__ __forceinline__ unsigned int mf_tf32(float x) {
  unsigned int r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}
// d += a b on one 16x8x8 tile (fragment layout: codegen/emit/cuda_mma_layout.ts).
__device__ __forceinline__ void mf_mma_tf32(float* d, const unsigned int* a, const unsigned int* b) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
// Asynchronous copies to shared memory; ok == false copies nothing and zero-fills the destination.
__device__ __forceinline__ void mf_cp_async16(float* dst, const float* src, bool ok) {
  const unsigned int s = (unsigned int)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(s), "l"(src), "r"(ok ? 16 : 0) : "memory");
}
__device__ __forceinline__ void mf_cp_async4(float* dst, const float* src, bool ok) {
  const unsigned int s = (unsigned int)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(s), "l"(src), "r"(ok ? 4 : 0) : "memory");
}
__device__ __forceinline__ void mf_cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
__device__ __forceinline__ void mf_cp_async_wait1() { asm volatile("cp.async.wait_group 1;" ::: "memory"); }
__device__ __forceinline__ void mf_cp_async_wait0() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }
#endif
`;

/**
 * Why kernel `k` cannot be rendered with tensor cores (the CUDA emitter then renders its FMA body), or true.
 * @example tensorCoreSupport(kernel) // "B is row-major (tensor-core tiles read B from 64-column panels)"
 */
export function tensorCoreSupport(k: Kernel): true | string {
  const c = k.contraction;
  if (!c) return "no Contraction";
  if (k.workgroupSize !== TC_TILE.threads) return `workgroup size ${k.workgroupSize}, not ${TC_TILE.threads}`;
  if (c.tileRows !== TC_TILE.rows || c.tileCols !== TC_TILE.cols)
    return `tile ${c.tileRows}x${c.tileCols}, not ${TC_TILE.rows}x${TC_TILE.cols}`;
  if (c.bLayout !== "panels") return `B is row-major (tensor-core tiles read B from ${TC_TILE.cols}-column panels)`;
  if (!c.out && !c.epilogue) return "neither an output nor an epilogue";
  if (c.kind !== "dense" && !c.groupSizes) return "no group sizes buffer";
  if (c.kind === "groupedWeightGrad" && c.epilogue && !c.epilogue.group) return "a weight-gradient epilogue without g";
  return true;
}

/** A size expression as C++ `long long` arithmetic over the kernel's int size parameters. */
export function sizeText(d: Dim, ident: (name: string) => string): string {
  if (typeof d === "number") return `${d}LL`;
  if (typeof d === "string") return `(long long)${ident(d)}`;
  const xs = d.args.map((a) => sizeText(a, ident));
  switch (d.op) {
    case "add":
      return `(${xs.join(" + ")})`;
    case "mul":
      return `(${xs.join(" * ")})`;
    case "floorDiv":
      return `(${xs[0]} / ${xs[1]})`;
    case "ceilDiv":
      return `((${xs[0]} + ${xs[1]} - 1) / ${xs[1]})`;
    case "mod":
      return `(${xs[0]} % ${xs[1]})`;
    case "max":
    case "min":
      return xs.reduce((a, b) => `mf_${d.op}(${a}, ${b})`);
  }
}

/** A lane form of the layout table over the kernel's lane coordinates. */
const lane = (f: LaneForm): string => laneFormText(f, "mf_gid", "mf_tig");

/** Whether a row length is a static multiple of 4 floats (16-byte copies stay aligned and inside the row). */
const vectorRows = (len: Dim): boolean => typeof len === "number" && len % 4 === 0;

/** One operand staging: how A or B of a pass is copied into its shared buffer. */
interface Staging {
  /** Shared array and the floats of one of its two buffers. */
  readonly array: string;
  readonly size: number;
  /** `mMajor`: [64 rows][TILE_K + pad]; `kMajor`: [TILE_K rows][64 + pad] (the row index is k). */
  readonly layout: "mMajor" | "kMajor";
  readonly lines: (buf: string, k0: string) => string[];
}

/**
 * Renders kernel `k` (its `Contraction` supported: `tensorCoreSupport`) as a tensor-core kernel.
 */
export function emitTensorCoreKernel(k: Kernel, ctx: TensorCoreContext, comment: readonly string[]): string {
  const c = k.contraction!;
  if (TENSOR_CORE_TILE.tileM !== TC_TILE.rows || TENSOR_CORE_TILE.workgroupSize !== TC_TILE.threads)
    throw new Error("internal: the schedule's tensor-core tile and the renderer's differ");
  const id = ctx.ident;
  const wgrad = c.kind === "groupedWeightGrad";
  const siblingB = c.sibling?.b;
  const lines: string[] = [
    ...comment,
    "//   tensor-core schedule: TF32 mma.sync m16n8k8, f32 sums, cp.async double buffering",
    `extern "C" __global__ void __launch_bounds__(${TC_TILE.threads}) ${id(k.name)}(${ctx.params.join(", ")}) {`,
    ...sharedArrays(wgrad, !!siblingB),
    ...tileHeader(c, id),
    "  for (long long mf_tile = mf_group0; mf_tile < mf_tiles; mf_tile += mf_num_groups) {",
    ...tilePosition(c, id).map((l) => `    ${l}`),
    `    float mf_acc[${TC_MMA_PER_WARP.m}][${TC_MMA_PER_WARP.n}][4] = {};`,
    ...(siblingB ? [`    float mf_acc2[${TC_MMA_PER_WARP.m}][${TC_MMA_PER_WARP.n}][4] = {};`] : []),
  ];
  const aIndex = c.aIndex ? { buffer: id(c.aIndex.buffer), rows: sizeText(c.aIndex.rows, id) } : undefined;
  const first = passLines(c, id(c.a), aIndex, id(c.b), siblingB && id(siblingB), "mf_k_start", "mf_k_end");
  lines.push(...first.map((l) => `    ${l}`));
  if (c.plus) {
    const [start, end] = wgrad ? ["mf_k_start", "mf_k_end"] : ["0LL", "mf_depth"];
    lines.push(...passLines(c, id(c.plus.a), undefined, id(c.plus.b), undefined, start, end).map((l) => `    ${l}`));
  }
  lines.push(...storeLines(c, ctx).map((l) => `    ${l}`), "  }", "}");
  return lines.join("\n") + "\n";
}

function sharedArrays(wgrad: boolean, sibling: boolean): string[] {
  const a = wgrad ? TC_SMEM.kMajorFloats : TC_SMEM.mMajorFloats;
  return [
    `  __shared__ __align__(16) float mf_sa[${2 * a}];`,
    `  __shared__ __align__(16) float mf_sb[${2 * TC_SMEM.kMajorFloats}];`,
    ...(sibling ? [`  __shared__ __align__(16) float mf_sb2[${2 * TC_SMEM.kMajorFloats}];`] : []),
  ];
}

/** Sizes, lane coordinates and the tile count (the launch's blocks stride over the tiles). */
function tileHeader(c: Contraction, id: (n: string) => string): string[] {
  const tilesM =
    c.kind === "dense"
      ? "(mf_rows + 63) / 64"
      : c.kind === "grouped"
        ? "(mf_rows + 63) / 64 + mf_groups"
        : "(mf_depth + 63) / 64";
  const count = c.kind === "groupedWeightGrad" ? "mf_groups * mf_tiles_m * mf_tiles_n" : "mf_tiles_m * mf_tiles_n";
  return [
    "  const long long mf_group0 = (long long)blockIdx.y * gridDim.x + blockIdx.x;",
    `  const long long mf_rows = ${sizeText(c.rows, id)};`,
    `  const long long mf_cols = ${sizeText(c.cols, id)};`,
    `  const long long mf_depth = ${sizeText(c.depth, id)};`,
    `  [[maybe_unused]] const long long mf_groups = ${c.groups === undefined ? "1LL" : sizeText(c.groups, id)};`,
    "  const int mf_tid = (int)threadIdx.x;",
    "  const int mf_lane = mf_tid & 31;",
    "  const int mf_warp = mf_tid >> 5;",
    "  const int mf_gid = mf_lane >> 2;  // the lane's group of 4 (PTX groupID)",
    "  const int mf_tig = mf_lane & 3;  // its place in the group (PTX threadID_in_group)",
    `  const int mf_wm = (mf_warp / ${TC_TILE.warpsN}) * ${TC_TILE.warpRows};`,
    `  const int mf_wn = (mf_warp % ${TC_TILE.warpsN}) * ${TC_TILE.warpCols};`,
    "  const long long mf_tiles_n = (mf_cols + 63) / 64;",
    `  const long long mf_tiles_m = ${tilesM};`,
    `  const long long mf_tiles = ${count};`,
  ];
}

/** The tile's output rows [mf_row0, mf_row_end), columns from mf_col0, group mf_g and contraction range. */
function tilePosition(c: Contraction, id: (n: string) => string): string[] {
  const gs = c.groupSizes ? id(c.groupSizes) : "";
  const clamp = (x: string) => `mf_min(mf_max(${x}, 0LL), mf_rows)`;
  if (c.kind === "dense")
    return [
      "const long long mf_row0 = (mf_tile / mf_tiles_n) * 64, mf_row_end = mf_rows;",
      "const long long mf_col0 = (mf_tile % mf_tiles_n) * 64;",
      "[[maybe_unused]] const long long mf_g = 0;",
      "const long long mf_k_start = 0, mf_k_end = mf_depth;",
    ];
  if (c.kind === "grouped")
    return [
      // The same walk as the FMA body: row tiles never straddle groups; spare tiles do nothing.
      "long long mf_rest = mf_tile / mf_tiles_n, mf_offset = 0, mf_row0 = 0, mf_row_end = 0, mf_g = -1;",
      "for (long long mf_gi = 0; mf_gi < mf_groups; ++mf_gi) {",
      `  const long long mf_size = ${gs}[mf_gi];`,
      "  const long long mf_count = (mf_size + 63) / 64;",
      "  if (mf_g < 0) {",
      "    if (mf_rest < mf_count) {",
      "      mf_g = mf_gi;",
      `      mf_row0 = ${clamp("mf_offset + mf_rest * 64")};`,
      `      mf_row_end = ${clamp("mf_offset + mf_size")};`,
      "    } else {",
      "      mf_rest -= mf_count;",
      "    }",
      "  }",
      "  mf_offset += mf_size;",
      "}",
      "if (mf_g < 0) continue;  // uniform in the block: no barrier is skipped by part of it",
      "const long long mf_col0 = (mf_tile % mf_tiles_n) * 64;",
      "const long long mf_k_start = 0, mf_k_end = mf_depth;",
    ];
  return [
    "const long long mf_g = mf_tile / (mf_tiles_m * mf_tiles_n);",
    "const long long mf_in_group = mf_tile % (mf_tiles_m * mf_tiles_n);",
    "const long long mf_row0 = (mf_in_group / mf_tiles_n) * 64, mf_row_end = mf_depth;",
    "const long long mf_col0 = (mf_in_group % mf_tiles_n) * 64;",
    "long long mf_offset = 0;",
    `for (long long mf_q = 0; mf_q < mf_g; ++mf_q) mf_offset += ${gs}[mf_q];`,
    `const long long mf_k_start = ${clamp("mf_offset")};`,
    `const long long mf_k_end = ${clamp(`mf_offset + ${gs}[mf_g]`)};`,
  ];
}

/** The source row of contraction/output row `r` of A: through the gather, clamped like the FMA body. */
function sourceRow(r: string, aIndex: { buffer: string; rows: string } | undefined): string {
  return aIndex ? `mf_min(mf_max((long long)${aIndex.buffer}[${r}], 0LL), ${aIndex.rows} - 1)` : r;
}

/** One staging loop: `count` copies of `per` floats; copy e is (outer, inner) = (e / perOuter, (e % perOuter) * per). */
function copyLoop(o: {
  readonly count: number;
  readonly perOuter: number;
  readonly per: number;
  readonly names: readonly [string, string];
  readonly position: string;
  readonly ok: string;
  readonly src: string;
  readonly dst: string;
  readonly from: string;
}): string[] {
  const [outer, inner] = o.names;
  return [
    `for (int mf_e = mf_tid; mf_e < ${o.count}; mf_e += ${TC_TILE.threads}) {`,
    `  const int ${outer} = mf_e / ${o.perOuter}, ${inner} = (mf_e % ${o.perOuter}) * ${o.per};`,
    `  ${o.position}`,
    `  const bool mf_ok = ${o.ok};`,
    `  const long long mf_src = mf_ok ? ${o.src} : 0;`,
    `  mf_cp_async${o.per * 4}(&${o.dst}, ${o.from} + mf_src, mf_ok);`,
    "}",
  ];
}

/** How A of a pass is staged: m-major rows of the depth (dense, grouped) or k-major (weight gradient). */
function stageA(c: Contraction, a: string, aIndex: { buffer: string; rows: string } | undefined): Staging {
  const T = TC_TILE;
  const per = vectorRows(c.depth) ? 4 : 1;
  const count = (T.rows * T.k) / per;
  if (c.kind !== "groupedWeightGrad") {
    // A[row, k] at a[src(row) * depth + k]; the tile's rows [mf_row0, +64), depth [k0, +16).
    const size = TC_SMEM.mMajorFloats;
    return {
      array: "mf_sa",
      size,
      layout: "mMajor",
      lines: (buf, k0) =>
        copyLoop({
          count,
          perOuter: T.k / per,
          per,
          names: ["mf_r", "mf_kk"],
          position: `const long long mf_row = mf_row0 + mf_r, mf_k = ${k0} + mf_kk;`,
          ok: "mf_row < mf_row_end && mf_k < mf_pass_end",
          src: `${sourceRow("mf_row", aIndex)} * mf_depth + mf_k`,
          dst: `mf_sa[${buf} * ${size} + mf_r * ${TC_SMEM.mMajorStride} + mf_kk]`,
          from: a,
        }),
    };
  }
  // Weight gradient: A(m, r) = a[src(r) * depth + m]; contraction rows r [k0, +16), output rows m [mf_row0, +64).
  const size = TC_SMEM.kMajorFloats;
  return {
    array: "mf_sa",
    size,
    layout: "kMajor",
    lines: (buf, k0) =>
      copyLoop({
        count,
        perOuter: T.rows / per,
        per,
        names: ["mf_kk", "mf_m"],
        position: `const long long mf_r = ${k0} + mf_kk, mf_row = mf_row0 + mf_m;`,
        ok: "mf_r < mf_pass_end && mf_row < mf_row_end",
        src: `${sourceRow("mf_r", aIndex)} * mf_depth + mf_row`,
        dst: `mf_sa[${buf} * ${size} + mf_kk * ${TC_SMEM.kMajorStride} + mf_m]`,
        from: a,
      }),
  };
}

/** How a B of a pass is staged from its 64-column panels (k-major; the panel of this tile's columns). */
function stageB(c: Contraction, b: string, array: string): Staging {
  const T = TC_TILE;
  // Panels run over the contraction: depth (dense, grouped: one set per group) or the rows (weight gradient).
  const panel =
    c.kind === "grouped"
      ? "(mf_g * mf_tiles_n + mf_col0 / 64) * mf_depth"
      : c.kind === "dense"
        ? "(mf_col0 / 64) * mf_depth"
        : "(mf_col0 / 64) * mf_rows";
  const size = TC_SMEM.kMajorFloats;
  return {
    array,
    size,
    layout: "kMajor",
    lines: (buf, k0) =>
      copyLoop({
        count: (T.k * T.cols) / 4,
        perOuter: T.cols / 4,
        per: 4,
        names: ["mf_kk", "mf_n"],
        position: `const long long mf_k = ${k0} + mf_kk;`,
        ok: "mf_k < mf_pass_end",
        src: `(${panel} + mf_k) * 64 + mf_n`,
        dst: `${array}[${buf} * ${size} + mf_kk * ${TC_SMEM.kMajorStride} + mf_n]`,
        from: b,
      }),
  };
}

/** A fragment element's shared-memory offset in one buffer, from the layout table. */
function fragmentOffset(s: Staging, slot: FragmentSlot, outer: string, k: string, operand: "a" | "b"): string {
  // outer: the warp's row (A) or column (B) origin of this mma; k: the step's depth origin.
  const mn = `${outer} + ${lane(operand === "a" ? slot.row : slot.col)}`;
  const kk = `${k} + ${lane(operand === "a" ? slot.col : slot.row)}`;
  return s.layout === "mMajor"
    ? `(${mn}) * ${TC_SMEM.mMajorStride} + ${kk}`
    : `(${kk}) * ${TC_SMEM.kMajorStride} + ${mn}`;
}

/** The mma steps of one staged buffer: fragments from shared memory (TF32), then 2 x 4 mma per 8-deep step. */
function computeLines(sa: Staging, sbs: readonly Staging[], accs: readonly string[]): string[] {
  const W = TC_MMA_PER_WARP;
  const lines = [`MF_UNROLL for (int mf_ks = 0; mf_ks < ${TC_TILE.k}; mf_ks += ${MMA_K}) {`];
  lines.push(`  unsigned int mf_fa[${W.m}][${MMA_FRAGMENTS.a.length}];`);
  lines.push(`  MF_UNROLL for (int mf_mi = 0; mf_mi < ${W.m}; ++mf_mi) {`);
  for (const slot of MMA_FRAGMENTS.a) {
    const at = fragmentOffset(sa, slot, `mf_wm + mf_mi * ${MMA_M}`, "mf_ks", "a");
    lines.push(`    mf_fa[mf_mi][${slot.reg}] = mf_tf32(${sa.array}[mf_buf * ${sa.size} + ${at}]);`);
  }
  lines.push("  }");
  sbs.forEach((sb, j) => {
    lines.push(`  MF_UNROLL for (int mf_ni = 0; mf_ni < ${W.n}; ++mf_ni) {`);
    lines.push(`    unsigned int mf_fb[${MMA_FRAGMENTS.b.length}];`);
    for (const slot of MMA_FRAGMENTS.b) {
      const at = fragmentOffset(sb, slot, `mf_wn + mf_ni * ${MMA_N}`, "mf_ks", "b");
      lines.push(`    mf_fb[${slot.reg}] = mf_tf32(${sb.array}[mf_buf * ${sb.size} + ${at}]);`);
    }
    lines.push(
      `    MF_UNROLL for (int mf_mi = 0; mf_mi < ${W.m}; ++mf_mi) mf_mma_tf32(${accs[j]}[mf_mi][mf_ni], mf_fa[mf_mi], mf_fb);`,
    );
    lines.push("  }");
  });
  lines.push("}");
  return lines;
}

/** One pass over a contraction range: stage step 0, then per step stage the next while computing this one. */
function passLines(
  c: Contraction,
  a: string,
  aIndex: { buffer: string; rows: string } | undefined,
  b: string,
  b2: string | undefined,
  start: string,
  end: string,
): string[] {
  const sa = stageA(c, a, aIndex);
  const sbs = [stageB(c, b, "mf_sb"), ...(b2 ? [stageB(c, b2, "mf_sb2")] : [])];
  const stage = (buf: string, k0: string) => [...sa.lines(buf, k0), ...sbs.flatMap((s) => s.lines(buf, k0))];
  const K = TC_TILE.k;
  return [
    "{",
    `  const long long mf_pass_start = ${start}, mf_pass_end = ${end};`,
    `  const long long mf_steps = mf_pass_end > mf_pass_start ? (mf_pass_end - mf_pass_start + ${K - 1}) / ${K} : 0;`,
    ...stage("0", "mf_pass_start").map((l) => `  ${l}`),
    "  mf_cp_async_commit();",
    "  for (long long mf_step = 0; mf_step < mf_steps; ++mf_step) {",
    "    const int mf_buf = (int)(mf_step & 1);",
    "    if (mf_step + 1 < mf_steps) {",
    ...stage("(mf_buf ^ 1)", `mf_pass_start + (mf_step + 1) * ${K}`).map((l) => `      ${l}`),
    "    }",
    "    mf_cp_async_commit();  // possibly empty: the wait below then still leaves only the next step in flight",
    "    mf_cp_async_wait1();",
    "    __syncthreads();",
    ...computeLines(sa, sbs, ["mf_acc", "mf_acc2"]).map((l) => `    ${l}`),
    "    __syncthreads();  // this buffer is staged again two steps on",
    "  }",
    "  mf_cp_async_wait0();",
    "  __syncthreads();",
    "}",
  ];
}

/** Each thread's outputs (C fragments from the layout table): stored to `out`, or through the epilogue. */
function storeLines(c: Contraction, ctx: TensorCoreContext): string[] {
  const W = TC_MMA_PER_WARP;
  const lines = [
    `MF_UNROLL for (int mf_mi = 0; mf_mi < ${W.m}; ++mf_mi) {`,
    `  MF_UNROLL for (int mf_ni = 0; mf_ni < ${W.n}; ++mf_ni) {`,
  ];
  for (const slot of MMA_FRAGMENTS.c) {
    const row = `mf_row0 + mf_wm + mf_mi * ${MMA_M} + ${lane(slot.row)}`;
    const col = `mf_col0 + mf_wn + mf_ni * ${MMA_N} + ${lane(slot.col)}`;
    lines.push("    {", `      const long long mf_orow = ${row}, mf_ocol = ${col};`);
    lines.push("      if (mf_orow < mf_row_end && mf_ocol < mf_cols) {");
    const sum = `mf_acc[mf_mi][mf_ni][${slot.reg}]`;
    if (c.epilogue) {
      const ep = c.epilogue;
      const sums = [sum, `mf_acc2[mf_mi][mf_ni][${slot.reg}]`];
      const bindings = [
        `[[maybe_unused]] const long long ${ctx.ident(ep.row)} = mf_orow;`,
        `[[maybe_unused]] const long long ${ctx.ident(ep.col)} = mf_ocol;`,
        ...(ep.group ? [`[[maybe_unused]] const long long ${ctx.ident(ep.group)} = mf_g;`] : []),
        ...ep.sums.map((s, j) => `[[maybe_unused]] const float ${ctx.ident(s)} = ${sums[j]};`),
      ];
      lines.push(...ctx.epilogue(bindings, 4));
    } else {
      const flat =
        c.kind === "groupedWeightGrad"
          ? "(mf_g * mf_depth + mf_orow) * mf_cols + mf_ocol"
          : "mf_orow * mf_cols + mf_ocol";
      lines.push(`        ${ctx.ident(c.out!)}[${flat}] = ${sum};`);
    }
    lines.push("      }", "    }");
  }
  lines.push("  }", "}");
  return lines;
}
