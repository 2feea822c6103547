import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { concat, grad, ones, random, softmax, tensor, type Tensor } from "../../index";
import {
  MoeConfigError,
  cvSquared,
  erf,
  gateMatrix,
  importanceLoss,
  loadLoss,
  lossFreeBiasUpdate,
  noisyTopKGate,
  normalCdf,
  routerZLoss,
  switchLoss,
  topKGate,
} from "../../moe/index";
import { FEW, SOME, expectGradsOk, randn, routingSizes, separated } from "./helpers";
import { expectClose } from "../helpers/close";
import { mat, softmaxV, topKIdx, vec, vecMat, type Mat } from "./reference";

/** erf by composite Simpson integration of 2/√π e^{-s²} (error ~1e-13): an independent reference. */
function erfRef(x: number): number {
  // Beyond |x| = 6 the integrand is below 1e-15: integrate to ±6 only, so the step stays small.
  const n = 2000;
  const h = Math.max(-6, Math.min(6, x)) / n;
  let s = 0;
  for (let i = 0; i <= n; i++) s += (i === 0 || i === n ? 1 : i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((2 / Math.sqrt(Math.PI)) * s * h) / 3;
}
const cdfRef = (z: number) => 0.5 * (1 + erfRef(z / Math.SQRT2));
const cv2Ref = (v: number[]) => {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length / (m * m + 1e-10);
};
const f64 = (v: number[]) => tensor(v, [v.length], "f64");

describe("erf and the normal CDF", () => {
  it("match an independent quadrature to 2e-7 and are odd / centred", () => {
    fc.assert(
      fc.property(fc.double({ min: -5, max: 5, noNaN: true }), (x) => {
        const [e] = vec(erf(f64([x])));
        expect(Math.abs(e! - erfRef(x))).toBeLessThan(2e-7);
        expect(vec(erf(f64([-x])))[0]).toBeCloseTo(-e!, 15);
      }),
      SOME,
    );
    expect(vec(normalCdf(f64([0])))[0]).toBeCloseTo(0.5, 9);
    expect(Math.abs(vec(normalCdf(f64([1.96])))[0]! - cdfRef(1.96))).toBeLessThan(2e-7);
  });

  it("have smooth derivatives close to 2/√π e^{-x²}, including at 0", () => {
    const xs = [-2, -0.5, 0, 1e-9, 0.7, 3];
    const d = vec(grad((x: Tensor) => erf(x).sum())(f64(xs)) as Tensor);
    xs.forEach((x, i) => expect(Math.abs(d[i]! - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x))).toBeLessThan(2e-5));
    expectGradsOk((x) => erf(x), [f64([-1.3, -1e-3, 0, 0.4, 2.5])]);
    expectGradsOk((x) => normalCdf(x), [randn(3, [6])]);
  });
});

describe("cvSquared", () => {
  it("is Var/Mean² (population variance) and 0 for equal entries", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.1, max: 10, noNaN: true }), { minLength: 1, maxLength: 6 }), (v) => {
        expect(cvSquared(f64(v)).item()).toBeCloseTo(cv2Ref(v), 9);
      }),
      SOME,
    );
    expect(cvSquared(f64([2, 2, 2])).item()).toBe(0);
  });
  it("is gradient-checked", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.nat(10_000), (n, seed) =>
        expectGradsOk((v) => cvSquared(v), [randn(seed, [n]).add(2)], seed),
      ),
      FEW,
    );
  });
});

describe("Switch auxiliary loss", () => {
  it("equals 1 at uniform routing: uniform probabilities, or uniform dispatch fractions, whatever the other is", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.nat(10_000), (E, m, seed) => {
        const T = E * m;
        const roundRobin = tensor(
          Array.from({ length: T }, (_, t) => [t % E]),
          [T, 1],
          "i32",
        );
        const randomProbs = softmax(randn(seed, [T, E]));
        expect(switchLoss(randomProbs, roundRobin).item()).toBeCloseTo(1, 12);
        const uniformProbs = tensor(
          Array.from({ length: T }, () => new Array(E).fill(1 / E)),
          [T, E],
          "f64",
        );
        const anyExperts = tensor(
          Array.from({ length: T }, (_, t) => [(t * t + seed) % E]),
          [T, 1],
          "i32",
        );
        expect(switchLoss(uniformProbs, anyExperts).item()).toBeCloseTo(1, 12);
      }),
      SOME,
    );
  });

  it("is E when every token goes to one expert with probability 1", () => {
    const probs = tensor(
      [
        [1, 0, 0],
        [1, 0, 0],
      ],
      [2, 3],
      "f64",
    );
    expect(switchLoss(probs, tensor([[0], [0]], [2, 1], "i32")).item()).toBeCloseTo(3, 12);
  });

  it("equals E·Σ f_e P_e on random routings (top-k, with a mask) and is gradient-checked in the router", () => {
    fc.assert(
      fc.property(routingSizes(), ({ T, E, k, D, seed }) => {
        const x = randn(seed, [T, D]);
        const w = randn(seed + 1, [D, E]);
        fc.pre(separated(mat(x).map((row) => vecMat(row, mat(w)))));
        const r = topKGate({ w }, x, { k });
        const probs = mat(x).map((row) => softmaxV(vecMat(row, mat(w))));
        const chosen = r.experts.toArray() as number[][];
        const f = Array.from({ length: E }, (_, e) => chosen.flat().filter((c) => c === e).length / (T * k));
        const P = Array.from({ length: E }, (_, e) => probs.reduce((a, p) => a + p[e]!, 0) / T);
        expect(switchLoss(r.probs!, r.experts).item()).toBeCloseTo(E * f.reduce((a, fe, e) => a + fe * P[e]!, 0), 10);
        expectGradsOk((ww) => switchLoss(topKGate({ w: ww }, x, { k }).probs!, r.experts), [w], seed);
      }),
      FEW,
    );
  });
});

describe("Shazeer importance and load losses", () => {
  it("importance = CV² of the per-expert sums of the gate matrix; gradient-checked", () => {
    fc.assert(
      fc.property(routingSizes(), ({ T, E, k, D, seed }) => {
        const x = randn(seed, [T, D]);
        const w = randn(seed + 1, [D, E]);
        fc.pre(separated(mat(x).map((row) => vecMat(row, mat(w)))));
        const r = topKGate({ w }, x, { k });
        const G: Mat = mat(x).map(() => new Array<number>(E).fill(0));
        const ex = r.experts.toArray() as number[][];
        mat(r.weights).forEach((row, t) => row.forEach((v, j) => (G[t]![ex[t]![j]!] = v)));
        expectClose(gateMatrix(r), G, 1e-14);
        expect(importanceLoss(gateMatrix(r)).item()).toBeCloseTo(
          cv2Ref(G[0]!.map((_, e) => G.reduce((a, row) => a + row[e]!, 0))),
          9,
        );
        expectGradsOk((ww) => importanceLoss(gateMatrix(topKGate({ w: ww }, x, { k }))), [w], seed);
      }),
      FEW,
    );
  });

  it("load = CV² of Σ_t Φ((clean - kth-excluding-self) / std); gradient-checked in W, W_noise and x", () => {
    fc.assert(
      fc.property(routingSizes({ minE: 2 }), ({ T, E, k: kRaw, D, seed }) => {
        const k = Math.min(kRaw, E - 1);
        const x = randn(seed, [T, D]);
        const w = randn(seed + 1, [D, E]);
        const wNoise = randn(seed + 2, [D, E]);
        const key = random.key(seed + 3);
        const r = noisyTopKGate({ w, wNoise }, x, { k, key });
        const clean = mat(r.noise!.clean);
        const noisy = mat(r.noise!.noisy);
        fc.pre(separated(noisy));
        const std = mat(r.noise!.std);
        const load = new Array<number>(E).fill(0);
        noisy.forEach((row, t) => {
          const top = topKIdx(row, k);
          for (let e = 0; e < E; e++) {
            const others = row.filter((_, j) => j !== e).sort((a, b) => b - a);
            const threshold = others[k - 1]!; // k-th largest among the other experts
            expect(top.includes(e)).toBe(row[e]! > threshold);
            load[e]! += cdfRef((clean[t]![e]! - threshold) / std[t]![e]!);
          }
        });
        // f32 routing against an f64 reference.
        expect(Math.abs(loadLoss(r.noise!, k).item() - cv2Ref(load))).toBeLessThan(1e-5 * Math.max(1, cv2Ref(load)));
        expectGradsOk(
          (a, b, c) => loadLoss(noisyTopKGate({ w: a, wNoise: b }, c, { k, key }).noise!, k),
          [w, wNoise, x],
          seed,
        );
      }),
      FEW,
    );
  });

  it("load loss is 0 when k = E, and rejects a bad k", () => {
    const r = noisyTopKGate({ w: randn(1, [2, 3]), wNoise: randn(2, [2, 3]) }, randn(3, [4, 2]), {
      k: 3,
      key: random.key(0),
    });
    expect(loadLoss(r.noise!, 3).item()).toBe(0);
    expect(() => loadLoss(r.noise!, 4)).toThrow(/k = 4 is out of range; expected 1 <= k <= E = 3/);
  });
});

describe("router z-loss", () => {
  it("is mean_t logsumexp(logits_t)²; gradient-checked", () => {
    fc.assert(
      fc.property(routingSizes(), ({ T, E, seed }) => {
        const logits = randn(seed, [T, E], 2);
        const ref = mat(logits).reduce((a, row) => a + Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) ** 2, 0) / T;
        expect(routerZLoss(logits).item()).toBeCloseTo(ref, 10);
        expectGradsOk((l) => routerZLoss(l), [logits], seed);
      }),
      FEW,
    );
  });
});

describe("auxiliary-loss-free balancing (Wang et al. 2024)", () => {
  it("moves the bias by ±rate toward balance: up for underloaded experts, down for overloaded", () => {
    const bias = f64([0, 0, 0, 0]);
    const next = vec(lossFreeBiasUpdate(bias, tensor([5, 1, 2, 0], [4], "i32"), 0.1));
    expect(next).toEqual([-0.1, 0.1, 0, 0.1]); // mean load is 2
  });

  it("iterating the update on a skewed router balances the top-1 load", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), fc.nat(10_000), (E, seed) => {
        const T = 16 * E;
        // Diverse tokens plus a constant feature whose router weight favours expert 0: a skewed start.
        const x = concat([randn(seed, [T, 2]), ones([T, 1], "f64")], 1);
        const w = concat(
          [randn(seed + 1, [2, E]), tensor([Array.from({ length: E }, (_, e) => (e === 0 ? 1.5 : 0))], [1, E], "f64")],
          0,
        );
        const countsWith = (b: Tensor) => {
          const counts = new Array<number>(E).fill(0);
          (topKGate({ w }, x, { k: 1, selectionBias: b }).experts.toArray() as number[][]).forEach(
            ([e]) => counts[e!]!++,
          );
          return counts;
        };
        const ratio = (counts: number[]) => Math.max(...counts) / (T / E);
        let bias: Tensor = tensor(new Array(E).fill(0), [E], "f64");
        const before = ratio(countsWith(bias));
        const late: number[] = [];
        for (let i = 0; i < 150; i++) {
          const counts = countsWith(bias);
          if (i >= 120) late.push(ratio(counts));
          bias = lossFreeBiasUpdate(bias, tensor(counts, [E], "i32"), 0.01);
        }
        // The sign update oscillates around balance, so judge the average over the last steps.
        const after = late.reduce((a, b) => a + b, 0) / late.length;
        expect(after).toBeLessThanOrEqual(Math.min(before, 1.5));
      }),
      { numRuns: 6 },
    );
  });

  it("rejects a bias of the wrong length or a rate <= 0", () => {
    expect(() => lossFreeBiasUpdate(f64([0, 0]), tensor([1, 2, 3], [3], "i32"), 0.1)).toThrow(
      /expertCounts \[E\] has shape \[3\], expected \[2\]/,
    );
    expect(() => lossFreeBiasUpdate(f64([0, 0]), tensor([1, 2], [2], "i32"), 0)).toThrow(MoeConfigError);
  });
});
