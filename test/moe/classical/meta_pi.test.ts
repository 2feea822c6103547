import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { metaPi, metaPiLoss, type ExpertActivation } from "../../../moe/classical";
import { affineRow, arr, checkTreeGrads, randTensor, randomGatedExperts, rng, softmaxRow } from "./helpers";
import { expectClose } from "../../helpers/close";

const sizes = fc.record({
  n: fc.integer({ min: 1, max: 5 }),
  d: fc.integer({ min: 1, max: 4 }),
  e: fc.integer({ min: 1, max: 4 }),
  o: fc.integer({ min: 1, max: 3 }),
  seed: fc.integer({ min: 0, max: 1e6 }),
  act: fc.constantFrom<ExpertActivation>("identity", "sigmoid", "softmax"),
});

function problem({ n, d, e, o, seed }: { n: number; d: number; e: number; o: number; seed: number }, gateDim = d) {
  const r = rng(seed);
  const { params, a } = randomGatedExperts(r, d, e, o, gateDim);
  return { params, a, x: randTensor(r, [n, d], 2), y: randTensor(r, [n, o]), gx: randTensor(r, [n, gateDim], 2) };
}

const ACT: Record<ExpertActivation, (v: number[]) => number[]> = {
  identity: (v) => v,
  sigmoid: (v) => v.map((z) => 1 / (1 + Math.exp(-z))),
  softmax: softmaxRow,
};

/** Plain-loop meta-pi: out[n] = Σ_i g_i act(x W_i + b_i), g = softmax(x_g W_g + b_g). */
function reference(p: ReturnType<typeof problem>, act: ExpertActivation, gateX: number[][]) {
  return p.x.a.map((xn: number[], n: number) => {
    const g = softmaxRow(affineRow(gateX[n]!, p.a.gw, p.a.gb));
    const outs = p.a.ew.map((w: number[][], i: number) => ACT[act](affineRow(xn, w, p.a.eb[i])));
    return {
      g,
      out: outs[0].map((_: number, c: number) =>
        outs.reduce((s: number, oi: number[], i: number) => s + g[i]! * oi[c]!, 0),
      ),
    };
  });
}

describe("metaPi", () => {
  it("forward and loss equal a plain-loop reference on random sizes", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const p = problem(s);
        const got = metaPi(p.params, p.x.t, { expertActivation: s.act });
        const ref = reference(p, s.act, p.x.a);
        expectClose(
          arr(got.output),
          ref.map((r: any) => r.out),
        );
        expectClose(
          arr(got.gates),
          ref.map((r: any) => r.g),
        );
        const mse =
          ref.reduce(
            (acc: number, r: any, n: number) =>
              acc + r.out.reduce((q: number, v: number, c: number) => q + (p.y.a[n][c] - v) ** 2, 0),
            0,
          ) /
          (s.n * s.o);
        expectClose(metaPiLoss(p.params, p.x.t, p.y.t, { expertActivation: s.act }).item(), mse);
      }),
      { numRuns: 40 },
    );
  });

  it("lets the gate read its own input", () => {
    const s = { n: 4, d: 3, e: 3, o: 2, seed: 7 };
    const p = problem(s, 5);
    const got = metaPi(p.params, p.x.t, { gateInput: p.gx.t });
    expectClose(
      arr(got.output),
      reference(p, "identity", p.gx.a).map((r: any) => r.out),
    );
  });

  it("has correct gradients (checkGrads, f64) on random sizes", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const p = problem(s);
        checkTreeGrads((params) => metaPiLoss(params, p.x.t, p.y.t, { expertActivation: s.act }), p.params, {
          seed: s.seed,
        });
      }),
      { numRuns: 15 },
    );
  });

  it("has correct gradients of every output w.r.t. parameters and inputs (checkGrads, f64)", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const p = problem(s);
        checkTreeGrads(
          ({ params, x }) => metaPi(params, x, { expertActivation: s.act }).output,
          { params: p.params, x: p.x.t },
          { seed: s.seed },
        );
      }),
      { numRuns: 10 },
    );
  });

  it("rejects bad configurations with clear errors", () => {
    const p = problem({ n: 3, d: 2, e: 3, o: 2, seed: 1 });
    const q = problem({ n: 3, d: 2, e: 4, o: 2, seed: 2 });
    expect(() => metaPi({ ...p.params, gate: q.params.gate }, p.x.t)).toThrow(
      /gate has 4 outputs but there are 3 experts/,
    );
    const wide = problem({ n: 3, d: 5, e: 3, o: 2, seed: 3 });
    expect(() => metaPi(p.params, wide.x.t)).toThrow(/x has shape \[3, 5\], expected \[\?, 2\]/);
    expect(() => metaPi(p.params, p.x.t, { gateInput: wide.x.t })).toThrow(
      /gate reads 2 features but the gate input has 5/,
    );
    expect(() => metaPi({ ...p.params, experts: { w: p.params.experts.w, b: q.params.experts.b } }, p.x.t)).toThrow(
      /params\.experts\.b has shape \[4, 2\], expected \[3, 2\]/,
    );
    expect(() => metaPi(p.params, p.x.t, { expertActivation: "relu" as never })).toThrow(
      /unknown expertActivation "relu"/,
    );
    expect(() => metaPiLoss(p.params, p.x.t, wide.x.t)).toThrow(/metaPiLoss: y has shape \[3, 5\], expected \[3, 2\]/);
  });
});
