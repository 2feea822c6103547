import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { localExperts, localExpertsLoss, localExpertsPosteriors } from "../../../moe/classical";
import { affineRow, arr, checkTreeGrads, logSumExp, randTensor, randomGatedExperts, rng, softmaxRow } from "./helpers";
import { expectClose } from "../../helpers/close";

const sizes = fc.record({
  n: fc.integer({ min: 1, max: 5 }),
  d: fc.integer({ min: 1, max: 4 }),
  e: fc.integer({ min: 1, max: 5 }),
  o: fc.integer({ min: 1, max: 3 }),
  seed: fc.integer({ min: 0, max: 1e6 }),
});

function problem({ n, d, e, o, seed }: { n: number; d: number; e: number; o: number; seed: number }) {
  const r = rng(seed);
  const { params, a } = randomGatedExperts(r, d, e, o);
  return { params, a, x: randTensor(r, [n, d], 2), y: randTensor(r, [n, o], 2) };
}

/** Per case: gate probabilities, expert outputs, and log g_i - ½||y - o_i||². */
function reference(p: ReturnType<typeof problem>) {
  return p.x.a.map((xn: number[], n: number) => {
    const g = softmaxRow(affineRow(xn, p.a.gw, p.a.gb));
    const outs: number[][] = p.a.ew.map((w: number[][], i: number) => affineRow(xn, w, p.a.eb[i]));
    const logJoint = outs.map((oi, i) => Math.log(g[i]!) - 0.5 * oi.reduce((s, v, c) => s + (p.y.a[n][c] - v) ** 2, 0));
    const mix = outs[0]!.map((_, c) => outs.reduce((s, oi, i) => s + g[i]! * oi[c]!, 0));
    return { g, outs, logJoint, mix };
  });
}

describe("mixture of local experts", () => {
  it("forward, loss and posteriors equal a plain-loop reference on random sizes", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const p = problem(s);
        const ref = reference(p);
        const fwd = localExperts(p.params, p.x.t);
        expectClose(
          arr(fwd.gates),
          ref.map((r: any) => r.g),
        );
        expectClose(
          arr(fwd.expertOutputs),
          ref.map((r: any) => r.outs),
        );
        expectClose(
          arr(fwd.output),
          ref.map((r: any) => r.mix),
        );
        const nll = -ref.reduce((acc: number, r: any) => acc + logSumExp(r.logJoint), 0) / s.n;
        expectClose(localExpertsLoss(p.params, p.x.t, p.y.t).item(), nll);
        expectClose(
          arr(localExpertsPosteriors(p.params, p.x.t, p.y.t)),
          ref.map((r: any) => softmaxRow(r.logJoint)),
        );
      }),
      { numRuns: 40 },
    );
  });

  it("stays finite when every expert is far from the target (logsumexp)", () => {
    const p = problem({ n: 2, d: 1, e: 3, o: 1, seed: 3 });
    const far = randTensor(rng(4), [2, 1], 1).t.add(200);
    const loss = localExpertsLoss(p.params, p.x.t, far).item();
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeGreaterThan(1e3);
  });

  it("has correct gradients (checkGrads, f64) on random sizes", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const p = problem(s);
        checkTreeGrads((params) => localExpertsLoss(params, p.x.t, p.y.t), p.params, { seed: s.seed });
      }),
      { numRuns: 15 },
    );
  });

  it("has correct gradients of the mixture mean and posteriors w.r.t. parameters and inputs (checkGrads, f64)", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const p = problem(s);
        checkTreeGrads(
          ({ params, x }) => localExperts(params, x).output,
          { params: p.params, x: p.x.t },
          { seed: s.seed },
        );
        checkTreeGrads(
          ({ params, y }) => localExpertsPosteriors(params, p.x.t, y),
          { params: p.params, y: p.y.t },
          { seed: s.seed + 1 },
        );
      }),
      { numRuns: 10 },
    );
  });

  it("has correct second derivatives of the loss (checkGrads order 2, f64)", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const p = problem({ ...s, n: Math.min(s.n, 3) });
        checkTreeGrads((params) => localExpertsLoss(params, p.x.t, p.y.t), p.params, { order: 2, seed: s.seed });
      }),
      { numRuns: 4 },
    );
  });

  it("rejects bad configurations with clear errors", () => {
    const p = problem({ n: 3, d: 2, e: 3, o: 2, seed: 1 });
    const q = problem({ n: 3, d: 2, e: 2, o: 1, seed: 2 });
    expect(() => localExperts({ gate: q.params.gate, experts: p.params.experts }, p.x.t)).toThrow(
      /gate has 2 outputs but there are 3 experts/,
    );
    expect(() => localExpertsLoss(p.params, p.x.t, q.y.t)).toThrow(
      /localExpertsLoss: y has shape \[3, 1\], expected \[3, 2\]/,
    );
    expect(() =>
      localExpertsPosteriors(
        { gate: p.params.gate, experts: { w: p.params.experts.w, b: q.params.experts.b } } as never,
        p.x.t,
        p.y.t,
      ),
    ).toThrow(/params\.experts\.b has shape \[2, 1\], expected \[3, 2\]/);
    expect(() => localExperts(null as never, p.x.t)).toThrow(/params must be \{gate, experts\}/);
  });
});
