import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { initMixtureOfSoftmaxes, mixtureOfSoftmaxes, mixtureOfSoftmaxesLoss } from "../../../moe/classical";
import { random, tensor } from "../../../index";
import { affineRow, arr, checkTreeGrads, randTensor, rng, softmaxRow } from "./helpers";
import { expectClose } from "../../helpers/close";

const sizes = fc.record({
  n: fc.integer({ min: 1, max: 4 }),
  h: fc.integer({ min: 1, max: 4 }),
  d: fc.integer({ min: 1, max: 3 }),
  v: fc.integer({ min: 2, max: 6 }),
  k: fc.integer({ min: 1, max: 4 }),
  seed: fc.integer({ min: 0, max: 1e6 }),
});

function problem({ n, h, d, v, k, seed }: { n: number; h: number; d: number; v: number; k: number; seed: number }) {
  const r = rng(seed);
  const pw = randTensor(r, [h, k]);
  const pb = randTensor(r, [k]);
  const lw = randTensor(r, [k, h, d]);
  const lb = randTensor(r, [k, d]);
  const ow = randTensor(r, [d, v], 2);
  const ob = randTensor(r, [v]);
  const ctx = randTensor(r, [n, h], 2);
  const labels = Array.from({ length: n }, () => Math.floor(r() * v));
  const dist = Array.from({ length: n }, () => softmaxRow(Array.from({ length: v }, () => r() * 4)));
  return {
    params: { prior: { w: pw.t, b: pb.t }, latent: { w: lw.t, b: lb.t }, output: { w: ow.t, b: ob.t } },
    ctx,
    labels,
    dist,
    /** p(y | h_n) by plain loops: Σ_k π_k softmax(tanh(h P_k + c_k) W + b). */
    probs: ctx.a.map((hn: number[]) => {
      const pi = softmaxRow(affineRow(hn, pw.a, pb.a));
      const comps = lw.a.map((w: number[][], i: number) =>
        softmaxRow(affineRow(affineRow(hn, w, lb.a[i]).map(Math.tanh), ow.a, ob.a)),
      );
      return Array.from({ length: v }, (_, y) =>
        comps.reduce((s: number, c: number[], i: number) => s + pi[i]! * c[y]!, 0),
      );
    }) as number[][],
  };
}

describe("mixture of softmaxes", () => {
  it("log-probabilities and both losses equal a plain-loop reference on random sizes", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const p = problem(s);
        expectClose(
          arr(mixtureOfSoftmaxes(p.params, p.ctx.t)),
          p.probs.map((row) => row.map(Math.log)),
        );
        const nll = -p.labels.reduce((acc, y, i) => acc + Math.log(p.probs[i]![y]!), 0) / s.n;
        expectClose(mixtureOfSoftmaxesLoss(p.params, p.ctx.t, tensor(p.labels, [s.n], "i32")).item(), nll);
        const ce =
          -p.dist.reduce((acc, t, i) => acc + t.reduce((q, tv, y) => q + tv * Math.log(p.probs[i]![y]!), 0), 0) / s.n;
        expectClose(mixtureOfSoftmaxesLoss(p.params, p.ctx.t, tensor(p.dist, [s.n, s.v], "f64")).item(), ce);
      }),
      { numRuns: 40 },
    );
  });

  it("has correct gradients (checkGrads, f64) on random sizes", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const p = problem(s);
        const targets = tensor(p.labels, [s.n], "i32");
        checkTreeGrads((params) => mixtureOfSoftmaxesLoss(params, p.ctx.t, targets), p.params, { seed: s.seed });
      }),
      { numRuns: 15 },
    );
  });

  it("has correct gradients of the log-probabilities w.r.t. parameters and contexts (checkGrads, f64)", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const p = problem(s);
        checkTreeGrads(
          ({ params, h }) => mixtureOfSoftmaxes(params, h),
          { params: p.params, h: p.ctx.t },
          { seed: s.seed },
        );
      }),
      { numRuns: 10 },
    );
  });

  it("initMixtureOfSoftmaxes gives normalised distributions of the requested sizes", () => {
    const params = initMixtureOfSoftmaxes(
      random.key(2),
      { contextDim: 5, latentDim: 3, vocab: 7, components: 4 },
      "f64",
    );
    const logp = mixtureOfSoftmaxes(params, randTensor(rng(1), [6, 5]).t);
    expect(logp.shape).toEqual([6, 7]);
    expectClose(arr(logp.exp().sum(-1)), Array(6).fill(1), 1e-12);
  });

  it("rejects bad configurations with clear errors", () => {
    const p = problem({ n: 3, h: 2, d: 2, v: 4, k: 3, seed: 1 });
    const q = problem({ n: 3, h: 3, d: 1, v: 4, k: 2, seed: 2 });
    expect(() => mixtureOfSoftmaxes({ ...p.params, prior: q.params.prior }, p.ctx.t)).toThrow(
      /params\.prior has 2 components but params\.latent has 3/,
    );
    expect(() => mixtureOfSoftmaxes({ ...p.params, output: q.params.output }, p.ctx.t)).toThrow(
      /params\.latent produces 2 features but params\.output\.w reads 1/,
    );
    expect(() => mixtureOfSoftmaxes(p.params, q.ctx.t)).toThrow(/h has shape \[3, 3\], expected \[\?, 2\]/);
    expect(() => mixtureOfSoftmaxesLoss(p.params, p.ctx.t, tensor([0, 1], [2], "i32"))).toThrow(
      /targets \(class indices\) has shape \[2\], expected \[3\]/,
    );
    expect(() => mixtureOfSoftmaxesLoss(p.params, p.ctx.t, tensor([[1, 0, 0]], undefined, "f64"))).toThrow(
      /targets \(distributions\) has shape \[1, 3\], expected \[3, 4\]/,
    );
    expect(() =>
      initMixtureOfSoftmaxes(random.key(0), { contextDim: 2, latentDim: 2, vocab: 3, components: 0 }),
    ).toThrow(/components = 0/);
  });
});
