import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { grad, random, sum, tensor, zeros, type Tensor } from "../../index";
import {
  MoeConfigError,
  expertChoiceCapacity,
  expertChoiceGate,
  gshardTop2Gate,
  hashGate,
  hashTable,
  noisyTopKGate,
  softMoeWeights,
  softmaxGate,
  tokenHash,
  topKGate,
} from "../../moe/index";
import { FEW, SOME, expectGradsOk, randn, routingSizes, separated } from "./helpers";
import { expectClose } from "../helpers/close";
import { addV, mat, softmaxV, softplus1, topKIdx, vec, vecMat, type Mat } from "./reference";

const logitsOf = (x: Tensor, w: Tensor): Mat => mat(x).map((row) => vecMat(row, mat(w)));

describe("softmax gate", () => {
  it("weights every expert by softmax(x W); gradient-checked", () => {
    fc.assert(
      fc.property(routingSizes(), ({ T, E, D, seed }) => {
        const x = randn(seed, [T, D]);
        const w = randn(seed + 1, [D, E]);
        const r = softmaxGate({ w }, x);
        expectClose(r.weights, logitsOf(x, w).map(softmaxV), 1e-12);
        expect(r.experts.toArray()).toEqual(Array.from({ length: T }, () => Array.from({ length: E }, (_, e) => e)));
        expectGradsOk((ww, xx) => softmaxGate({ w: ww }, xx).weights, [w, x], seed);
      }),
      FEW,
    );
  });
});

describe("top-k gate", () => {
  for (const renormalize of [true, false]) {
    it(`selects the k largest logits and weights them (${renormalize ? "renormalised" : "full softmax"}); gradients through the kept weights`, () => {
      fc.assert(
        fc.property(routingSizes(), ({ T, E, k, D, seed }) => {
          const x = randn(seed, [T, D]);
          const w = randn(seed + 1, [D, E]);
          const r = topKGate({ w }, x, { k, renormalize });
          const logits = logitsOf(x, w);
          fc.pre(separated(logits));
          const chosen = logits.map((row) => topKIdx(row, k));
          expect(r.experts.toArray()).toEqual(chosen);
          const expected = logits.map((row, t) => {
            const p = softmaxV(row);
            const kept = chosen[t]!.map((e) => p[e]!);
            const s = kept.reduce((a, b) => a + b, 0);
            return renormalize ? kept.map((v) => v / s) : kept;
          });
          expectClose(r.weights, expected, 1e-12);
          expectGradsOk((ww, xx) => topKGate({ w: ww }, xx, { k, renormalize }).weights, [w, x], seed);
        }),
        FEW,
      );
    });
  }

  it("a selection bias changes which experts are picked, not their weights, and gets no gradient", () => {
    fc.assert(
      fc.property(routingSizes({ minE: 2 }), ({ T, E, k, D, seed }) => {
        const x = randn(seed, [T, D]);
        const w = randn(seed + 1, [D, E]);
        const bias = randn(seed + 2, [E], 0.5);
        const r = topKGate({ w }, x, { k, renormalize: false, selectionBias: bias });
        const probs = logitsOf(x, w).map(softmaxV);
        const chosen = probs.map((p) => topKIdx(addV(p, vec(bias)), k));
        expect(r.experts.toArray()).toEqual(chosen);
        expectClose(
          r.weights,
          probs.map((p, t) => chosen[t]!.map((e) => p[e]!)),
          1e-12,
        );
        const dBias = grad((b: Tensor) => sum(topKGate({ w }, x, { k, selectionBias: b }).weights.square()))(
          bias,
        ) as Tensor;
        expect(vec(dBias).every((v) => v === 0)).toBe(true);
      }),
      SOME,
    );
  });

  it("rejects k > E and k < 1", () => {
    const x = zeros([2, 3]);
    const w = zeros([3, 4]);
    expect(() => topKGate({ w }, x, { k: 5 })).toThrow(/k = 5 exceeds the number of experts E = 4/);
    expect(() => topKGate({ w }, x, { k: 0 })).toThrow(MoeConfigError);
    expect(() => topKGate({ w: zeros([2, 4]) }, x, { k: 1 })).toThrow(
      /router weight \[D, E\] has shape \[2, 4\], expected \[D=3, \*\]/,
    );
  });
});

describe("noisy top-k gate (Shazeer et al. 2017)", () => {
  it("H = xW + ε·softplus(x W_noise); weights = softmax over the kept noisy logits; gradient-checked in W, W_noise and x", () => {
    fc.assert(
      fc.property(routingSizes(), ({ T, E, k, D, seed }) => {
        const x = randn(seed, [T, D]);
        const w = randn(seed + 1, [D, E]);
        const wNoise = randn(seed + 2, [D, E]);
        const key = random.key(seed + 3);
        const eps = mat(random.normal(key, [T, E], "f64"));
        const clean = logitsOf(x, w);
        const std = logitsOf(x, wNoise).map((row) => row.map(softplus1));
        const noisy = clean.map((row, t) => row.map((c, e) => c + eps[t]![e]! * std[t]![e]!));
        fc.pre(separated(noisy));
        const r = noisyTopKGate({ w, wNoise }, x, { k, key });
        const chosen = noisy.map((row) => topKIdx(row, k));
        expect(r.experts.toArray()).toEqual(chosen);
        expectClose(
          r.weights,
          noisy.map((row, t) => softmaxV(chosen[t]!.map((e) => row[e]!))),
          1e-12,
        );
        expectClose(r.noise!.std, std, 1e-12);
        expectGradsOk((a, b, c) => noisyTopKGate({ w: a, wNoise: b }, c, { k, key }).weights, [w, wNoise, x], seed);
      }),
      FEW,
    );
  });

  it("without a key it gates on the clean logits", () => {
    const x = randn(1, [5, 3]);
    const w = randn(2, [3, 4]);
    const r = noisyTopKGate({ w, wNoise: randn(3, [3, 4]) }, x, { k: 2 });
    expect(r.experts.toArray()).toEqual(logitsOf(x, w).map((row) => topKIdx(row, 2)));
  });
});

describe("GShard top-2", () => {
  it("normalises the top-2 weights to sum 1 and always keeps the first expert; gradient-checked", () => {
    fc.assert(
      fc.property(routingSizes({ minE: 2 }), ({ T, E, D, seed }) => {
        const x = randn(seed, [T, D]);
        const w = randn(seed + 1, [D, E]);
        const r = gshardTop2Gate({ w }, x, { key: random.key(seed) });
        const probs = logitsOf(x, w).map(softmaxV);
        const draws = vec(random.uniform(random.key(seed), [T, 1], { dtype: "f64" }));
        // Stable selection, and no draw within reach of its keep threshold 2·g2'.
        fc.pre(separated(probs) && mat(r.weights).every((row, t) => Math.abs(draws[t]! - 2 * row[1]!) > 1e-5));
        const chosen = probs.map((p) => topKIdx(p, 2));
        expect(r.experts.toArray()).toEqual(chosen);
        expectClose(
          r.weights,
          probs.map((p, t) => chosen[t]!.map((e) => p[e]! / (p[chosen[t]![0]!]! + p[chosen[t]![1]!]!))),
          1e-12,
        );
        expect((r.mask!.toArray() as number[][]).every((row) => row[0] === 1)).toBe(true);
        expectGradsOk((ww, xx) => gshardTop2Gate({ w: ww }, xx, { key: random.key(seed) }).weights, [w, x], seed);
      }),
      FEW,
    );
  });

  it("keeps the second expert with probability 2·g2' (proportional to its weight)", () => {
    const T = 4000;
    const x = randn(11, [T, 3]);
    const w = randn(12, [3, 4], 0.8);
    const r = gshardTop2Gate({ w }, x, { key: random.key(13) });
    const g2 = mat(r.weights).map((row) => row[1]!);
    const expected = g2.reduce((a, v) => a + 2 * v, 0);
    const kept = (r.mask!.toArray() as number[][]).reduce((a, row) => a + row[1]!, 0);
    const sd = Math.sqrt(g2.reduce((a, v) => a + 2 * v * (1 - 2 * v), 0));
    expect(Math.abs(kept - expected)).toBeLessThan(4 * sd);
  });

  it("needs at least 2 experts", () => {
    expect(() => gshardTop2Gate({ w: zeros([2, 1]) }, zeros([3, 2]))).toThrow(
      /k = 2 exceeds the number of experts E = 1/,
    );
  });
});

describe("expert choice (Zhou et al. 2022)", () => {
  it("each expert takes its top-c tokens by softmax score; c = ceil(T·cf/E); gradient-checked", () => {
    fc.assert(
      fc.property(routingSizes(), fc.double({ min: 0.3, max: 1, noNaN: true }), ({ T, E, D, seed }, frac) => {
        const cf = Math.max(0.01, frac * E);
        const x = randn(seed, [T, D]);
        const w = randn(seed + 1, [D, E]);
        const c = Math.max(1, Math.ceil((T * cf) / E - 1e-9));
        expect(expertChoiceCapacity(T, E, cf)).toBe(c);
        const r = expertChoiceGate({ w }, x, { capacityFactor: cf });
        const probs = logitsOf(x, w).map(softmaxV);
        const columns = Array.from({ length: E }, (_, e) => probs.map((p) => p[e]!));
        fc.pre(separated(columns));
        const picked = columns.map((col) => topKIdx(col, c));
        expect(r.tokens.toArray()).toEqual(picked);
        expectClose(
          r.weights,
          picked.map((ts, e) => ts.map((t) => columns[e]![t]!)),
          1e-12,
        );
        expectGradsOk((ww, xx) => expertChoiceGate({ w: ww }, xx, { capacityFactor: cf }).weights, [w, x], seed);
      }),
      FEW,
    );
  });

  it("rejects a capacity factor <= 0 or above E", () => {
    const x = zeros([4, 2]);
    const w = zeros([2, 2]);
    expect(() => expertChoiceGate({ w }, x, { capacityFactor: 0 })).toThrow(/capacityFactor = 0 is invalid/);
    expect(() => expertChoiceGate({ w }, x, { capacityFactor: 3 })).toThrow(/expected capacityFactor <= E = 2/);
  });
});

describe("hash routing (Roller et al. 2021)", () => {
  it("tables are deterministic, differ between layers, and cover [0, E)", () => {
    const a = vec(hashTable(500, 8, { layer: 0 }));
    expect(vec(hashTable(500, 8, { layer: 0 }))).toEqual(a);
    const b = vec(hashTable(500, 8, { layer: 1 }));
    expect(a.filter((e, i) => e === b[i]).length).toBeLessThan(500 / 8 + 4 * Math.sqrt(500 / 8));
    expect(a.every((e) => Number.isInteger(e) && e >= 0 && e < 8)).toBe(true);
    expect(new Set(a).size).toBe(8);
    expect(tokenHash(3, 2, 1)).toBe(tokenHash(3, 2, 1));
  });

  it("a plain hash spreads ids about evenly; a balanced table exactly", () => {
    const counts = (t: number[], E: number) => Array.from({ length: E }, (_, e) => t.filter((v) => v === e).length);
    const plain = counts(vec(hashTable(4000, 8)), 8);
    // chi-square with 7 degrees of freedom: 99.9th percentile is 24.3
    expect(plain.reduce((s, c) => s + (c - 500) ** 2 / 500, 0)).toBeLessThan(24.3);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 7 }), fc.nat(1000), (V, E, seed) => {
        const c = counts(vec(hashTable(V, E, { balanced: true, seed })), E);
        expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
      }),
      SOME,
    );
  });

  it("routes token t to table[id_t] with weight 1", () => {
    const table = hashTable(10, 3, { layer: 4 });
    const ids = tensor([3, 9, 0, 3], [4], "i32");
    const r = hashGate(table, ids, { numExperts: 3, dtype: "f64" });
    expect(r.experts.toArray()).toEqual([3, 9, 0, 3].map((i) => [vec(table)[i]]));
    expect(r.weights.toArray()).toEqual([[1], [1], [1], [1]]);
  });

  it("a table too small for the token ids, or naming a missing expert, is an error", () => {
    expect(() => hashGate(hashTable(10, 3), tensor([1, 10], [2], "i32"), { numExperts: 3 })).toThrow(
      /token id 10 .* outside the hash table of 10 entries/,
    );
    expect(() => hashGate(tensor([0, 3], [2], "i32"), tensor([1], [1], "i32"), { numExperts: 3 })).toThrow(
      /table\[1\] = 3 is not an expert in \[0, 3\)/,
    );
    expect(() => hashGate(tensor([0, 1]), tensor([1], [1], "i32"), { numExperts: 3 })).toThrow(/1-D i32 tensor/);
  });
});

describe("soft MoE weights (Puigcerver et al. 2023)", () => {
  it("dispatch is a softmax over tokens, combine over slots; gradient-checked", () => {
    fc.assert(
      fc.property(routingSizes(), fc.integer({ min: 1, max: 2 }), ({ T, E, D, seed }, p) => {
        const x = randn(seed, [T, D]);
        const phi = randn(seed + 1, [D, E * p]);
        const { dispatch, combine } = softMoeWeights({ phi }, x, { numExperts: E, slotsPerExpert: p });
        const L = logitsOf(x, phi);
        expectClose(combine, L.map(softmaxV), 1e-12);
        const cols = Array.from({ length: E * p }, (_, s) => softmaxV(L.map((row) => row[s]!)));
        expectClose(
          dispatch,
          L.map((_, t) => cols.map((col) => col[t]!)),
          1e-12,
        );
        expectGradsOk(
          (a, b) => {
            const r = softMoeWeights({ phi: a }, b, { numExperts: E, slotsPerExpert: p });
            return [r.dispatch, r.combine];
          },
          [phi, x],
          seed,
        );
      }),
      FEW,
    );
  });

  it("rejects a phi whose slot count is not E·p", () => {
    expect(() => softMoeWeights({ phi: zeros([2, 5]) }, zeros([3, 2]), { numExperts: 2, slotsPerExpert: 2 })).toThrow(
      /phi has 5 slot columns, expected E·p = 2·2 = 4/,
    );
  });
});
