/**
 * The tensor-core schedule's fragment layout (codegen/emit/cuda_mma_layout.ts), checked on the CPU:
 * the table against the PTX ISA's description of the m16n8k8 .tf32 fragments (written here
 * independently, as bit formulas), a simulated warp-level mma built on that description, and a whole
 * 64 x 64 block tile computed the way the emitted kernel does (shared-memory staging with its strides and
 * zero fill, 4 warps, 2 x 4 mma per 8-deep step, fragment loads and output positions from the table)
 * against a plain matmul on random inputs. This checks the index logic the kernel uses, not the hardware:
 * that the GPU agrees is `npm run cuda:check -- --tensor-cores`.
 */
import { describe, expect, it } from "vitest";
import {
  bankOf,
  evalLaneForm,
  laneFormText,
  MMA_FRAGMENTS,
  MMA_K,
  MMA_M,
  MMA_N,
  TC_MMA_PER_WARP,
  TC_SMEM,
  TC_TILE,
  warpTileOrigin,
  WARP_SIZE,
  type FragmentSlot,
} from "../../codegen/emit/cuda_mma_layout";
import { mulberry32 } from "../../testing/random_programs";

type Operand = "a" | "b" | "c";

/** The PTX ISA's m16n8k8 .tf32 layout (groupID = lane >> 2, threadID_in_group = lane % 4): [row, col]. */
function isaSlot(operand: Operand, lane: number, reg: number): [number, number] {
  const gid = lane >> 2;
  const tig = lane % 4;
  if (operand === "a") return [gid + 8 * (reg & 1), tig + 4 * (reg >> 1)];
  if (operand === "b") return [tig + 4 * reg, gid];
  return [gid + 8 * (reg >> 1), 2 * tig + (reg & 1)];
}

const SHAPES: Record<Operand, [number, number]> = { a: [MMA_M, MMA_K], b: [MMA_K, MMA_N], c: [MMA_M, MMA_N] };

/** One warp's mma as the ISA defines it: registers -> matrices -> D = A B + C -> registers. */
function warpMma(a: number[][], b: number[][], c: number[][]): number[][] {
  const A = Array.from({ length: MMA_M }, () => new Array<number>(MMA_K).fill(NaN));
  const B = Array.from({ length: MMA_K }, () => new Array<number>(MMA_N).fill(NaN));
  const C = Array.from({ length: MMA_M }, () => new Array<number>(MMA_N).fill(NaN));
  for (let lane = 0; lane < WARP_SIZE; lane++) {
    a[lane]!.forEach((x, r) => (([i, j]) => (A[i]![j] = x))(isaSlot("a", lane, r)));
    b[lane]!.forEach((x, r) => (([i, j]) => (B[i]![j] = x))(isaSlot("b", lane, r)));
    c[lane]!.forEach((x, r) => (([i, j]) => (C[i]![j] = x))(isaSlot("c", lane, r)));
  }
  return Array.from({ length: WARP_SIZE }, (_, lane) =>
    c[lane]!.map((_, r) => {
      const [i, j] = isaSlot("c", lane, r);
      let s = C[i]![j]!;
      for (let k = 0; k < MMA_K; k++) s += A[i]![k]! * B[k]![j]!;
      return s;
    }),
  );
}

/** cvt.rna.tf32.f32: keep 10 mantissa bits, round to nearest, ties away from zero (finite inputs). */
function tf32(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0]! + 0x1000) & ~0x1fff) >>> 0;
  return f[0]!;
}

const at = (slot: FragmentSlot, lane: number) => [evalLaneForm(slot.row, lane), evalLaneForm(slot.col, lane)] as const;

describe("mma fragment layout table", () => {
  it("is the PTX ISA's m16n8k8 .tf32 layout, and each fragment covers its matrix once", () => {
    for (const operand of ["a", "b", "c"] as const) {
      const [rows, cols] = SHAPES[operand];
      const slots = MMA_FRAGMENTS[operand];
      expect(slots.length * WARP_SIZE).toBe(rows * cols);
      const seen = new Set<number>();
      for (let lane = 0; lane < WARP_SIZE; lane++)
        for (const slot of slots) {
          const [i, j] = at(slot, lane);
          expect([i, j], `${operand} lane ${lane} reg ${slot.reg}`).toEqual(isaSlot(operand, lane, slot.reg));
          seen.add(i * cols + j);
        }
      expect(seen.size).toBe(rows * cols);
    }
  });

  it("renders its forms as the C++ the emitter prints", () => {
    expect(laneFormText(MMA_FRAGMENTS.a[1]!.row)).toBe("(gid + 8)");
    expect(laneFormText(MMA_FRAGMENTS.c[3]!.col, "g", "t")).toBe("(t * 2 + 1)");
    expect(laneFormText({ gid: 0, tig: 0, offset: 0 })).toBe("0");
  });

  it("loads every fragment from shared memory without bank conflicts (the strides of TC_SMEM)", () => {
    const banks = (offset: (lane: number) => number) =>
      new Set(Array.from({ length: 32 }, (_, l) => bankOf(offset(l))));
    for (const slot of MMA_FRAGMENTS.a) {
      const [m, k] = [(l: number) => evalLaneForm(slot.row, l), (l: number) => evalLaneForm(slot.col, l)];
      expect(banks((l) => m(l) * TC_SMEM.mMajorStride + k(l)).size).toBe(32);
      expect(banks((l) => k(l) * TC_SMEM.kMajorStride + m(l)).size).toBe(32);
    }
    for (const slot of MMA_FRAGMENTS.b)
      expect(banks((l) => evalLaneForm(slot.row, l) * TC_SMEM.kMajorStride + evalLaneForm(slot.col, l)).size).toBe(32);
    // 16-byte cp.async destinations stay aligned.
    expect(TC_SMEM.mMajorStride % 4).toBe(0);
    expect(TC_SMEM.kMajorStride % 4).toBe(0);
  });
});

/**
 * A block tile the way the emitted kernel computes it: out[r][n] = sum_k A(r, k) B(k, n) for r < rows,
 * n < cols (tails), K of any length; A staged m-major or k-major, B k-major, TILE_K deep, zero-filled.
 */
function blockTile(
  A: (r: number, k: number) => number,
  B: (k: number, n: number) => number,
  rows: number,
  cols: number,
  K: number,
  aLayout: "mMajor" | "kMajor",
  round: (x: number) => number,
): number[][] {
  const T = TC_TILE;
  const acc = Array.from({ length: T.threads / WARP_SIZE }, () =>
    Array.from({ length: TC_MMA_PER_WARP.m * TC_MMA_PER_WARP.n }, () =>
      Array.from({ length: WARP_SIZE }, () => [0, 0, 0, 0]),
    ),
  );
  const aOffset = (m: number, k: number) =>
    aLayout === "mMajor" ? m * TC_SMEM.mMajorStride + k : k * TC_SMEM.kMajorStride + m;
  for (let k0 = 0; k0 < K; k0 += T.k) {
    const sa = new Float32Array(aLayout === "mMajor" ? TC_SMEM.mMajorFloats : TC_SMEM.kMajorFloats).fill(NaN);
    const sb = new Float32Array(TC_SMEM.kMajorFloats).fill(NaN);
    for (let m = 0; m < T.rows; m++)
      for (let kk = 0; kk < T.k; kk++) sa[aOffset(m, kk)] = m < rows && k0 + kk < K ? A(m, k0 + kk) : 0;
    // B comes from a 64-column panel: zero past the last column, so no column test.
    for (let kk = 0; kk < T.k; kk++)
      for (let n = 0; n < T.cols; n++) sb[kk * TC_SMEM.kMajorStride + n] = n < cols && k0 + kk < K ? B(k0 + kk, n) : 0;
    for (let warp = 0; warp < acc.length; warp++) {
      const origin = warpTileOrigin(warp);
      for (let ks = 0; ks < T.k; ks += MMA_K)
        for (let mi = 0; mi < TC_MMA_PER_WARP.m; mi++)
          for (let ni = 0; ni < TC_MMA_PER_WARP.n; ni++) {
            const lanes = Array.from({ length: WARP_SIZE }, (_, l) => l);
            const fa = lanes.map((l) =>
              MMA_FRAGMENTS.a.map((s) => {
                const [m, k] = at(s, l);
                return round(sa[aOffset(origin.row + mi * MMA_M + m, ks + k)]!);
              }),
            );
            const fb = lanes.map((l) =>
              MMA_FRAGMENTS.b.map((s) => {
                const [k, n] = at(s, l);
                return round(sb[(ks + k) * TC_SMEM.kMajorStride + origin.col + ni * MMA_N + n]!);
              }),
            );
            const c = acc[warp]![mi * TC_MMA_PER_WARP.n + ni]!;
            warpMma(fa, fb, c).forEach((d, l) => (c[l] = d));
          }
    }
  }
  const out = Array.from({ length: rows }, () => new Array<number>(cols).fill(NaN));
  acc.forEach((tiles, warp) => {
    const origin = warpTileOrigin(warp);
    tiles.forEach((c, t) => {
      const [mi, ni] = [Math.floor(t / TC_MMA_PER_WARP.n), t % TC_MMA_PER_WARP.n];
      c.forEach((regs, lane) =>
        MMA_FRAGMENTS.c.forEach((slot) => {
          const [i, j] = at(slot, lane);
          const [r, n] = [origin.row + mi * MMA_M + i, origin.col + ni * MMA_N + j];
          if (r < rows && n < cols) out[r]![n] = regs[slot.reg]!;
        }),
      );
    });
  });
  return out;
}

function relError(got: number[][], want: number[][]): number {
  let num = 0;
  let den = 0;
  got.forEach((row, i) =>
    row.forEach((g, j) => {
      num += (g - want[i]![j]!) ** 2;
      den += want[i]![j]! ** 2;
    }),
  );
  return Math.sqrt(num / den);
}

describe("tensor-core block tile, simulated on the CPU", () => {
  const rng = mulberry32(1717);
  const cases = [
    { rows: 64, cols: 64, K: 32, aLayout: "mMajor" as const },
    { rows: 45, cols: 37, K: 37, aLayout: "mMajor" as const },
    { rows: 64, cols: 19, K: 5, aLayout: "kMajor" as const },
    { rows: 7, cols: 64, K: 53, aLayout: "kMajor" as const },
  ];
  for (const { rows, cols, K, aLayout } of cases)
    it(`matches a plain matmul: ${rows} x ${cols}, K = ${K}, A ${aLayout}`, () => {
      const a = Array.from({ length: rows }, () => Array.from({ length: K }, () => rng() * 2 - 1));
      const b = Array.from({ length: K }, () => Array.from({ length: cols }, () => rng() * 2 - 1));
      const want = a.map((row) => b[0]!.map((_, n) => row.reduce((s, x, k) => s + x * b[k]![n]!, 0)));
      const A = (r: number, k: number) => a[r]![k]!;
      const B = (k: number, n: number) => b[k]![n]!;
      const exact = blockTile(A, B, rows, cols, K, aLayout, (x) => x);
      expect(relError(exact, want)).toBeLessThan(1e-6);
      // TF32 inputs: ~2^-11 relative per product; documented as ~1e-3 relative in norm.
      const rounded = relError(blockTile(A, B, rows, cols, K, aLayout, tf32), want);
      expect(rounded).toBeGreaterThan(1e-6);
      expect(rounded).toBeLessThan(2e-3);
    });

  it("tf32 keeps 10 mantissa bits, rounding to nearest with ties away from zero", () => {
    expect(tf32(1 + 2 ** -10)).toBe(1 + 2 ** -10);
    expect(tf32(1 + 2 ** -11)).toBe(1 + 2 ** -10); // a tie: away from zero
    expect(tf32(1 + 2 ** -12)).toBe(1);
    expect(tf32(-(1 + 2 ** -11))).toBe(-(1 + 2 ** -10));
  });
});
