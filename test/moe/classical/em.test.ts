import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cholesky,
  emStep,
  fitEm,
  fitSoftmaxRegression,
  withRidge,
  initLinearGaussianMixture,
  linearGaussianMixtureLogLikelihood,
  linearGaussianMixturePosteriors,
  solveSpd,
  type LinearGaussianMixtureParams,
} from "../../../moe/classical";
import { random, tensor } from "../../../index";
import {
  affineRow,
  arr,
  checkTreeGrads,
  logSumExp,
  randArray,
  randTensor,
  randomGatedExperts,
  rng,
  softmaxRow,
} from "./helpers";
import { expectClose } from "../../helpers/close";

function randomMixture(
  r: () => number,
  d: number,
  o: number,
  e: number,
): { params: LinearGaussianMixtureParams; a: any } {
  const { params, a } = randomGatedExperts(r, d, e, o);
  const lv = randTensor(r, [e], 0.5);
  return { params: { ...params, logVariance: lv.t }, a: { ...a, lv: lv.a } };
}

/** log g_i + log N(y; μ_i, σ_i² I) per case and expert, by plain loops. */
function refLogJoint(a: any, x: number[][], y: number[][]): number[][] {
  return x.map((xn, n) => {
    const g = softmaxRow(affineRow(xn, a.gw, a.gb));
    return a.ew.map((w: number[][], i: number) => {
      const mu = affineRow(xn, w, a.eb[i]);
      const v = Math.exp(a.lv[i]);
      const sq = mu.reduce((s, m, c) => s + (y[n]![c]! - m) ** 2, 0);
      return Math.log(g[i]!) - 0.5 * (mu.length * Math.log(2 * Math.PI * v) + sq / v);
    });
  });
}

/** Data drawn from a known 2-expert mixture on x in [-2, 2]: y = 2x + 1 for x < 0, y = -x + 0.5 for x >= 0, noise 0.1. */
function twoRegimeData(n: number, seed: number) {
  const r = rng(seed);
  const xs = Array.from({ length: n }, () => [(r() * 2 - 1) * 2]);
  const noise = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * 0.1;
  const ys = xs.map(([v]) => [(v! < 0 ? 2 * v! + 1 : -v! + 0.5) + noise()]);
  return { x: tensor(xs, [n, 1], "f64"), y: tensor(ys, [n, 1], "f64"), xs, ys };
}

describe("host linear algebra", () => {
  it("solveSpd solves random SPD systems and cholesky factors them", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 1e6 }),
        (n, m, seed) => {
          const r = rng(seed);
          const g: number[][] = randArray(r, [n, n]);
          const a = new Float64Array(n * n);
          for (let i = 0; i < n; i++)
            for (let j = 0; j < n; j++) a[i * n + j] = g[i]!.reduce((s, v, k) => s + v * g[j]![k]!, i === j ? 0.5 : 0);
          const b = Float64Array.from(randArray(r, [n * m]) as number[]);
          const x = solveSpd(a, b, n, m);
          for (let i = 0; i < n; i++)
            for (let c = 0; c < m; c++) {
              let s = 0;
              for (let k = 0; k < n; k++) s += a[i * n + k]! * x[k * m + c]!;
              expectClose(s, b[i * m + c]!, 1e-8);
            }
          const l = cholesky(a, n);
          for (let i = 0; i < n; i++)
            for (let j = 0; j < n; j++) {
              let s = 0;
              for (let k = 0; k < n; k++) s += l[i * n + k]! * l[j * n + k]!;
              expectClose(s, a[i * n + j]!, 1e-10);
              if (j > i) expect(l[i * n + j]).toBe(0);
            }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("withRidge adds relative x mean-diagonal + floor to the diagonal only, on a copy", () => {
    const a = new Float64Array([2, 1, 1, 4]);
    expect(Array.from(withRidge(a, 2, 0.5, 0.25))).toEqual([2 + 1.5 + 0.25, 1, 1, 4 + 1.5 + 0.25]);
    expect(Array.from(a)).toEqual([2, 1, 1, 4]);
  });

  it("rejects matrices that are not positive definite or badly sized", () => {
    expect(() => cholesky(new Float64Array([1, 2, 2, 1]), 2)).toThrow(/not positive definite \(pivot 1/);
    expect(() => cholesky(new Float64Array([1, 2, 3]), 2)).toThrow(/expected 4 entries/);
    expect(() => solveSpd(new Float64Array([1]), new Float64Array([1, 2, 3]), 1, 2)).toThrow(
      /expected 2 right-hand-side entries/,
    );
  });
});

describe("mixture of linear-Gaussian experts", () => {
  const sizes = fc.record({
    n: fc.integer({ min: 1, max: 5 }),
    d: fc.integer({ min: 1, max: 3 }),
    o: fc.integer({ min: 1, max: 3 }),
    e: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer({ min: 0, max: 1e6 }),
  });

  it("log-likelihood and posteriors equal a plain-loop reference on random sizes", () => {
    fc.assert(
      fc.property(sizes, ({ n, d, o, e, seed }) => {
        const r = rng(seed);
        const { params, a } = randomMixture(r, d, o, e);
        const x = randTensor(r, [n, d], 2);
        const y = randTensor(r, [n, o], 2);
        const lj = refLogJoint(a, x.a, y.a);
        expectClose(
          linearGaussianMixtureLogLikelihood(params, x.t, y.t).item(),
          lj.reduce((s, row) => s + logSumExp(row), 0) / n,
        );
        expectClose(arr(linearGaussianMixturePosteriors(params, x.t, y.t)), lj.map(softmaxRow));
      }),
      { numRuns: 40 },
    );
  });

  it("has correct log-likelihood gradients (checkGrads, f64) on random sizes", () => {
    fc.assert(
      fc.property(sizes, ({ n, d, o, e, seed }) => {
        const r = rng(seed);
        const { params } = randomMixture(r, d, o, e);
        const x = randTensor(r, [n, d], 2).t;
        const y = randTensor(r, [n, o], 2).t;
        checkTreeGrads((p) => linearGaussianMixtureLogLikelihood(p, x, y), params, { seed });
      }),
      { numRuns: 15 },
    );
  });
});

describe("EM", () => {
  it("the expert M-step solves each expert's weighted least squares and sets its variance", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 1e6 }),
        (d, o, e, seed) => {
          const r = rng(seed);
          const n = 12;
          const { params, a } = randomMixture(r, d, o, e);
          const x = randTensor(r, [n, d], 2);
          const y = randTensor(r, [n, o], 2);
          const h = refLogJoint(a, x.a, y.a).map(softmaxRow);
          const next = emStep(params, x.t, y.t, { ridge: 0 });
          const w: number[][][] = arr(next.experts.w);
          const b: number[][] = arr(next.experts.b);
          const lv: number[] = arr(next.logVariance);
          for (let i = 0; i < e; i++) {
            // Stationarity of Σ_n h_in ||y_n - x̃_n [W; b]||²: Σ_n h_in (y_n - μ_n) x̃_nᵀ = 0.
            const resid = x.a.map((xn: number[], k: number) =>
              affineRow(xn, w[i]!, b[i]!).map((m, c) => y.a[k][c] - m),
            );
            for (let j = 0; j <= d; j++)
              for (let c = 0; c < o; c++) {
                const gradient = x.a.reduce(
                  (s: number, xn: number[], k: number) => s + h[k]![i]! * resid[k]![c]! * (j < d ? xn[j]! : 1),
                  0,
                );
                expectClose(gradient, 0, 1e-7);
              }
            const mass = h.reduce((s, row) => s + row[i]!, 0);
            const sq = resid.reduce(
              (s: number, row: number[], k: number) => s + h[k]![i]! * row.reduce((q, v) => q + v * v, 0),
              0,
            );
            expectClose(lv[i]!, Math.log(Math.max(sq / (o * mass), 1e-6)), 1e-7);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it("the gate M-step converges to the stationary point of Σ h log g", () => {
    const r = rng(3);
    const [n, d, e] = [30, 2, 3];
    const { params, a } = randomMixture(r, d, 1, e);
    const x = randTensor(r, [n, d], 2);
    const y = randTensor(r, [n, 1], 2);
    const h = refLogJoint(a, x.a, y.a).map(softmaxRow);
    const next = emStep(params, x.t, y.t, { gateNewtonSteps: 25, ridge: 0 });
    const gw: number[][] = arr(next.gate.w);
    const gb: number[] = arr(next.gate.b);
    const g = x.a.map((xn: number[]) => softmaxRow(affineRow(xn, gw, gb)));
    for (let i = 0; i < e; i++)
      for (let j = 0; j <= d; j++) {
        const gradient = x.a.reduce(
          (s: number, xn: number[], k: number) => s + (h[k]![i]! - g[k]![i]!) * (j < d ? xn[j]! : 1),
          0,
        );
        expectClose(gradient, 0, 1e-6);
      }
  });

  it("fitSoftmaxRegression never lowers its objective, even on separable (saturating) targets", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 0, max: 1e6 }), (e, seed) => {
        const r = rng(seed);
        const [n, p] = [20, 3];
        const xt = Float64Array.from({ length: n * p }, (_, k) => (k % p === p - 1 ? 1 : r() * 4 - 2));
        // Hard targets from a random linear rule: separable, so the optimum is at infinity.
        const rule = randArray(r, [p, e]) as number[][];
        const h = new Float64Array(n * e);
        for (let k = 0; k < n; k++) {
          const z = Array.from({ length: e }, (_, i) => rule.reduce((s, row, j) => s + row[i]! * xt[k * p + j]!, 0));
          h[k * e + z.indexOf(Math.max(...z))] = 1;
        }
        const objective = (v: Float64Array) => {
          let q = 0;
          for (let k = 0; k < n; k++) {
            const z = Array.from({ length: e }, (_, i) =>
              Array.from({ length: p }, (_, j) => xt[k * p + j]! * v[j * e + i]!).reduce((a, b) => a + b, 0),
            );
            q += z.reduce((s, zi, i) => s + h[k * e + i]! * (zi - logSumExp(z)), 0);
          }
          return q;
        };
        const v = new Float64Array(p * e);
        let last = objective(v);
        for (let step = 0; step < 6; step++) {
          fitSoftmaxRegression(xt, h, v, { n, p, e }, { steps: 1 });
          const q = objective(v);
          expect(q).toBeGreaterThanOrEqual(last - 1e-9);
          last = q;
        }
        expect(last).toBeGreaterThan(n * -Math.log(e) + 1); // it moved well away from the uniform gate
      }),
      { numRuns: 20 },
    );
  });

  it("never lowers the log-likelihood and recovers a known two-regime mixture", () => {
    const { x, y } = twoRegimeData(200, 1);
    const init = initLinearGaussianMixture(random.key(4), { inputDim: 1, outputDim: 1, experts: 2 }, "f64");
    const { params, logLikelihoods } = fitEm(init, x, y, { iterations: 40 });
    expect(logLikelihoods).toHaveLength(41);
    for (let t = 1; t < logLikelihoods.length; t++)
      expect(logLikelihoods[t]!).toBeGreaterThanOrEqual(logLikelihoods[t - 1]! - 1e-9);
    // Noise 0.1 in 1-D: the true model's log-likelihood per case is about -log(0.1 sqrt(2πe)) ≈ 0.88.
    expect(logLikelihoods.at(-1)!).toBeGreaterThan(0.6);
    const slopes = (arr(params.experts.w) as number[][][]).map((w) => w[0]![0]!).sort((p, q) => p - q);
    expectClose(slopes, [-1, 2], 0.1);
  });

  it("rejects bad options and shapes", () => {
    const { x, y } = twoRegimeData(10, 2);
    const p = initLinearGaussianMixture(random.key(0), { inputDim: 1, outputDim: 1, experts: 2 }, "f64");
    expect(() => fitEm(p, x, y, { iterations: -1 })).toThrow(/iterations = -1/);
    expect(() => emStep(p, x, y, { minVariance: 0 })).toThrow(/minVariance = 0; expected > 0/);
    expect(() => emStep(p, x, y, { gateNewtonSteps: 1.5 })).toThrow(/gateNewtonSteps = 1.5/);
    expect(() => emStep({ ...p, logVariance: tensor([0, 0, 0], undefined, "f64") }, x, y)).toThrow(
      /params\.logVariance has shape \[3\], expected \[2\]/,
    );
    expect(() => linearGaussianMixtureLogLikelihood(p, x, tensor([[1, 2]], undefined, "f64"))).toThrow(
      /y has shape \[1, 2\], expected \[10, 1\]/,
    );
  });
});
