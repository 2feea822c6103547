import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { random, tree, zeros, type Tensor } from "../../index";
import {
  MoeConfigError,
  denseFfn,
  ffnExperts,
  initAttention,
  initNorm,
  layerNorm,
  moeLayer,
  rmsNorm,
  selfAttention,
  transformerMoeBlock,
  upcycleFfn,
  type GateConfig,
} from "../../moe/index";
import { FEW, SOME, expectGradsOk, randn, randomize } from "./helpers";
import { expectClose } from "../helpers/close";
import { referenceLayer } from "./layer_reference";
import { addV, ffnRef, mat, mat3, softmaxV, vec, vecMat, type Mat } from "./reference";

const rmsRef = (row: number[], g: number[]) => {
  const r = Math.sqrt(row.reduce((a, v) => a + v * v, 0) / row.length + 1e-6);
  return row.map((v, i) => (v / r) * g[i]!);
};
const layerNormRef = (row: number[], g: number[], b: number[]) => {
  const m = row.reduce((a, v) => a + v, 0) / row.length;
  const s = Math.sqrt(row.reduce((a, v) => a + (v - m) ** 2, 0) / row.length + 1e-5);
  return row.map((v, i) => ((v - m) / s) * g[i]! + b[i]!);
};

/** Multi-head attention over one sequence, head by head, with explicit loops. */
function attentionRef(p: { wq: Mat; wk: Mat; wv: Mat; wo: Mat }, x: Mat, H: number, causal: boolean): Mat {
  const D = x[0]!.length;
  const dh = D / H;
  const q = x.map((r) => vecMat(r, p.wq));
  const k = x.map((r) => vecMat(r, p.wk));
  const v = x.map((r) => vecMat(r, p.wv));
  const concat = x.map(() => new Array<number>(D).fill(0));
  for (let h = 0; h < H; h++) {
    const cols = Array.from({ length: dh }, (_, j) => h * dh + j);
    x.forEach((_, i) => {
      const scores = x.map((__, j) =>
        causal && j > i ? -Infinity : cols.reduce((a, c) => a + q[i]![c]! * k[j]![c]!, 0) / Math.sqrt(dh),
      );
      const a = softmaxV(scores);
      cols.forEach((c) => (concat[i]![c] = a.reduce((acc, aj, j) => acc + aj * v[j]![c]!, 0)));
    });
  }
  return concat.map((r) => vecMat(r, p.wo));
}

const blockSizes = fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  T: fc.integer({ min: 1, max: 3 }),
  H: fc.integer({ min: 1, max: 2 }),
  dh: fc.integer({ min: 1, max: 2 }),
  E: fc.integer({ min: 1, max: 3 }),
  causal: fc.boolean(),
  norm: fc.constantFrom("rms" as const, "layer" as const),
  seed: fc.nat(100_000),
});

describe("norms and attention", () => {
  it("rmsNorm and layerNorm match the per-row formulas; gradient-checked", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.nat(10_000), (T, D, seed) => {
        const x = randn(seed, [T, D]);
        const g = randn(seed + 1, [D]);
        const b = randn(seed + 2, [D]);
        expectClose(
          rmsNorm(x, { gain: g }),
          mat(x).map((r) => rmsRef(r, vec(g))),
          1e-10,
        );
        expectClose(
          layerNorm(x, { gain: g, bias: b }),
          mat(x).map((r) => layerNormRef(r, vec(g), vec(b))),
          1e-10,
        );
        expectGradsOk((xx, gg) => rmsNorm(xx, { gain: gg }), [x, g], seed);
        expectGradsOk((xx, gg, bb) => layerNorm(xx, { gain: gg, bias: bb }), [x, g, b], seed);
      }),
      FEW,
    );
  });

  it("multi-head self-attention matches the head-by-head loop (causal or not); gradient-checked", () => {
    fc.assert(
      fc.property(blockSizes, ({ B, T, H, dh, causal, seed }) => {
        const D = H * dh;
        const p = randomize(initAttention(random.key(0), D, "f64"), seed, 0.7);
        const x = randn(seed + 1, [B, T, D]);
        const ref = mat3(x).map((seq) =>
          attentionRef({ wq: mat(p.wq), wk: mat(p.wk), wv: mat(p.wv), wo: mat(p.wo) }, seq, H, causal),
        );
        expectClose(selfAttention(p, x, { numHeads: H, causal }), ref, 1e-10);
        expectGradsOk(
          (xx, a, b, c, d) => selfAttention({ wq: a, wk: b, wv: c, wo: d }, xx, { numHeads: H, causal }),
          [x, p.wq, p.wk, p.wv, p.wo],
          seed,
        );
      }),
      FEW,
    );
  });
});

describe("Transformer MoE block", () => {
  const gate = (E: number): GateConfig => ({ type: "topK", k: Math.min(2, E) });

  it("y = h + MoE(Norm2(h)), h = x + Attn(Norm1(x)), per sequence, against the references", () => {
    fc.assert(
      fc.property(blockSizes, ({ B, T, H, dh, E, causal, norm, seed }) => {
        const D = H * dh;
        const block = transformerMoeBlock({
          dModel: D,
          numHeads: H,
          norm,
          causal,
          moe: { numExperts: E, gate: gate(E), experts: ffnExperts, capacityFactor: 1 },
        });
        const p = randomize(block.init(random.key(0), { hidden: 2 }, "f64"), seed, 0.7);
        const x = randn(seed + 1, [B, T, D]);
        const { y } = block.apply(p, x);
        const normRef = (r: number[], np: { gain: Tensor; bias?: Tensor }) =>
          norm === "rms" ? rmsRef(r, vec(np.gain)) : layerNormRef(r, vec(np.gain), vec(np.bias!));
        const a = p.attention;
        const moeP = p.moe as any;
        const ref = mat3(x).map((seq) => {
          const attn = attentionRef(
            { wq: mat(a.wq), wk: mat(a.wk), wv: mat(a.wv), wo: mat(a.wo) },
            seq.map((r) => normRef(r, p.norm1)),
            H,
            causal,
          );
          const h = seq.map((r, t) => addV(r, attn[t]!));
          return h;
        });
        // The MoE sees all B·T tokens at once (capacity is shared across the batch).
        const hFlat = ref.flat();
        const moeOut = referenceLayer({
          gate: gate(E),
          numExperts: E,
          capacityFactor: 1,
          router: moeP.router,
          x: hFlat.map((r) => normRef(r, p.norm2)),
          dOut: D,
          expert: ffnRef(mat3(moeP.experts.w1), mat(moeP.experts.b1), mat3(moeP.experts.w2), mat(moeP.experts.b2)),
        }).y;
        expectClose(
          y,
          ref.map((seq, bi) => seq.map((r, t) => addV(r, moeOut[bi * T + t]!))),
          1e-9,
        );
      }),
      SOME,
    );
  });

  it("is gradient-checked end to end (x and every parameter)", () => {
    fc.assert(
      fc.property(blockSizes, ({ B, T, H, dh, E, causal, norm, seed }) => {
        const D = H * dh;
        const block = transformerMoeBlock({
          dModel: D,
          numHeads: H,
          norm,
          causal,
          moe: {
            numExperts: E,
            gate: gate(E),
            experts: ffnExperts,
            capacityFactor: 1.25,
            auxLossWeights: { zLoss: 0.1 },
          },
        });
        const p = randomize(block.init(random.key(0), { hidden: 2 }, "f64"), seed, 0.7);
        const [leaves, def] = tree.flatten(p);
        const x = randn(seed + 1, [B, T, D]);
        expectGradsOk(
          (xx, ...ls) => {
            const { y, report } = block.apply(tree.unflatten(def, ls), xx);
            return [y, report.auxLoss];
          },
          [x, ...leaves],
          seed,
        );
      }),
      { numRuns: 6 },
    );
  });

  it("takes [T, D] as one sequence", () => {
    const block = transformerMoeBlock({
      dModel: 2,
      numHeads: 1,
      moe: { numExperts: 2, gate: { type: "topK", k: 1 }, experts: ffnExperts },
    });
    const p = block.init(random.key(0), { hidden: 2 }, "f64");
    const x = randn(3, [3, 2]);
    expectClose(block.apply(p, x).y, (block.apply(p, x.reshape([1, 3, 2])).y.toArray() as unknown[])[0], 1e-14);
  });

  it("rejects bad configuration", () => {
    const moe = { numExperts: 2, gate: { type: "topK", k: 1 } as GateConfig, experts: ffnExperts };
    expect(() => transformerMoeBlock({ dModel: 5, numHeads: 2, moe })).toThrow(
      /dModel = 5 is not divisible by numHeads = 2/,
    );
    expect(() => transformerMoeBlock({ dModel: 4, numHeads: 2, moe: { ...moe, residual: true } })).toThrow(
      /leave moe.residual unset/,
    );
    expect(() => transformerMoeBlock({ dModel: 4, numHeads: 2, norm: "batch" as never, moe })).toThrow(
      /norm = "batch"/,
    );
    expect(() =>
      transformerMoeBlock({ dModel: 4, numHeads: 2, moe: { ...moe, gate: { type: "topK", k: 3 } } }),
    ).toThrow(MoeConfigError);
    const block = transformerMoeBlock({ dModel: 4, numHeads: 2, moe });
    expect(() => block.apply(block.init(random.key(0), { hidden: 2 }), zeros([1, 3, 3]))).toThrow(
      /x \[B, T, dModel\] has shape \[1, 3, 3\], expected \[\*, \*, 4\]/,
    );
  });
});

describe("sparse upcycling (Komatsuzaki et al. 2022)", () => {
  it("E copies of the dense FFN + a fresh router: the top-k (renormalised) layer computes the dense FFN exactly", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.nat(10_000),
        (E, T, D, seed) => {
          const k = 1 + (seed % E);
          const dense = {
            w1: randn(seed, [D, 3]),
            b1: randn(seed + 1, [3]),
            w2: randn(seed + 2, [3, D]),
            b2: randn(seed + 3, [D]),
          };
          const { router, experts } = upcycleFfn(dense, E, random.key(seed));
          expect(router.w.shape).toEqual([D, E]);
          expect(experts.w1.shape).toEqual([E, D, 3]);
          const layer = moeLayer({ numExperts: E, gate: { type: "topK", k }, experts: ffnExperts });
          const x = randn(seed + 4, [T, D]);
          const ref = mat(x).map((r) =>
            ffnRef([mat(dense.w1)], [vec(dense.b1)], [mat(dense.w2)], [vec(dense.b2)])(0, r),
          );
          expectClose(denseFfn(dense, x), ref, 1e-10);
          expectClose(layer.apply({ router, experts }, x).y, ref, 1e-10);
        },
      ),
      SOME,
    );
  });

  it("different keys give different routers", () => {
    const dense = { w1: randn(0, [2, 3]), b1: randn(1, [3]), w2: randn(2, [3, 2]), b2: randn(3, [2]) };
    expect(vec(upcycleFfn(dense, 4, random.key(1)).router.w.reshape([8]))).not.toEqual(
      vec(upcycleFfn(dense, 4, random.key(2)).router.w.reshape([8])),
    );
  });

  it("rejects inconsistent dense shapes", () => {
    expect(() =>
      upcycleFfn({ w1: zeros([2, 3]), b1: zeros([4]), w2: zeros([3, 2]), b2: zeros([2]) }, 2, random.key(0)),
    ).toThrow(/b1 has shape \[4\], expected \[H=3\]/);
  });
});

it("initNorm gives identity norms", () => {
  expect(vec(initNorm("layer", 3).bias!)).toEqual([0, 0, 0]);
  expect(initNorm("rms", 3).bias).toBeUndefined();
});
