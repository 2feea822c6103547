/**
 * Shape rules on random shapes:
 * - every primitive's abstractEval (the shape rule used while tracing) agrees
 *   with the shape its interpreter impl produces, equation by equation, on the
 *   forward and gradient programs of all gradient cases;
 * - numpy broadcasting of the public binary ops matches a straightforward
 *   reference (shapes, values, and which pairs are rejected);
 * - named dims stay symbolic in traced programs, are bound by evalProgram, and
 *   a named dim bound to two sizes is an error.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  PRIMITIVES,
  ShapeError,
  add,
  matmul,
  mean,
  softmax,
  spec,
  trace,
  vjpProgram,
  type Program,
  type Tensor,
} from "../../index";
import type { NDArray } from "../../dsl/ndarray";
import { evalProgram } from "../../dsl/trace";
import { compositeCases } from "./cases/composite";
import { elementwiseCases } from "./cases/elementwise";
import { indexingCases } from "./cases/indexing";
import { linalgCases } from "./cases/linalg";
import { reduceCases } from "./cases/reduce";
import { shapeCases } from "./cases/shape";
import { f64, numelOf, refBroadcastShape, shapeArb, tensorArb, thrown, values } from "./helpers";

const ALL_CASES = [
  ...elementwiseCases,
  ...shapeCases,
  ...reduceCases,
  ...linalgCases,
  ...indexingCases,
  ...compositeCases,
];

/** Runs a program equation by equation with the impls, checking each result's shape and dtype against the equation's aval. */
function checkAvalsAgainstImpls(program: Program, inputs: readonly NDArray[]): number {
  const env = new Map<unknown, NDArray>();
  program.inputs.forEach((v, i) => env.set(v, inputs[i]!));
  for (const [v, arr] of program.consts) env.set(v, arr);
  for (const e of program.eqns) {
    const ins = e.inputs.map((v) => env.get(v)!);
    const out = (PRIMITIVES[e.prim].impl as (i: readonly NDArray[], p: unknown) => NDArray)(ins, e.params);
    const params = JSON.stringify(e.params, (k, v) => (k === "program" || typeof v === "function" ? undefined : v));
    const where = `${e.prim}{${params}} on ${ins.map((a) => `[${a.shape}]`).join(" ")}`;
    expect(out.shape, `shape of ${where}`).toEqual(e.out.shape);
    expect(out.dtype, `dtype of ${where}`).toBe(e.out.dtype);
    env.set(e.out, out);
  }
  return program.eqns.length;
}

describe("abstractEval vs interpreter shapes", () => {
  it("agree for every equation of every gradient case's forward and gradient programs (3 random samples per case)", () => {
    let checked = 0;
    for (const c of ALL_CASES) {
      for (const s of fc.sample(c.sample, { numRuns: 3 })) {
        const fwd = trace(s.f as never, ...s.args);
        const ins = s.args.map((a) => a._value());
        checked += checkAvalsAgainstImpls(fwd, ins);
        const out = evalProgram(fwd, s.args)[0]!;
        checked += checkAvalsAgainstImpls(vjpProgram(fwd), [...ins, out._value()]);
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
});

describe("numpy broadcasting of binary ops", () => {
  const anyPair = fc.tuple(shapeArb(0, 4, 1, 3), shapeArb(0, 4, 1, 3));

  it("matches a reference elementwise implementation, or rejects exactly the pairs that clash (200 runs)", () => {
    fc.assert(
      fc.property(
        anyPair.chain(([sa, sb]) => fc.tuple(tensorArb(sa), tensorArb(sb))),
        ([a, b]) => {
          const sa = a.shape as number[];
          const sb = b.shape as number[];
          const want = refBroadcastShape(sa, sb);
          if (want === null) {
            const e = thrown(() => add(a, b));
            expect(e).toBeInstanceOf(ShapeError);
            expect(e.message).toContain(`[${sa.join(",")}] and [${sb.join(",")}] do not broadcast`);
            return;
          }
          const y = add(a, b);
          expect(y.shape).toEqual(want);
          // Reference: out[i] = a[i mod a's dims] + b[i mod b's dims], right-aligned.
          const av = values(a);
          const bv = values(b);
          const yv = values(y);
          const index = (flat: number, shape: number[]) => {
            let rem = flat;
            const idx = new Array<number>(want.length);
            for (let d = want.length - 1; d >= 0; d--) {
              idx[d] = rem % want[d]!;
              rem = Math.floor(rem / want[d]!);
            }
            let src = 0;
            const off = want.length - shape.length;
            shape.forEach((n, d) => (src = src * n + (n === 1 ? 0 : idx[d + off]!)));
            return src;
          };
          for (let i = 0; i < numelOf(want); i++) expect(yv[i]).toBe(av[index(i, sa)]! + bv[index(i, sb)]!);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("traced shapes equal eager shapes for broadcasting ops on random shapes (100 runs)", () => {
    fc.assert(
      fc.property(anyPair, ([sa, sb]) => {
        fc.pre(refBroadcastShape(sa, sb) !== null);
        const f = (a: Tensor, b: Tensor) => add(a, b).mul(b).maximum(a);
        const p = trace(f, spec(sa, "f64"), spec(sb, "f64"));
        const y = f(f64(new Float64Array(numelOf(sa)), sa), f64(new Float64Array(numelOf(sb)), sb));
        expect(p.outputs[0]!.shape).toEqual(y.shape);
      }),
      { numRuns: 100 },
    );
  });
});

describe("named (symbolic) dims", () => {
  const model = (x: Tensor, w: Tensor) => softmax(matmul(x, w)).sum(-1).add(mean(x, 0).sum());

  it("stay symbolic in the traced program and its printout", () => {
    const p = trace(model, spec(["T", 4], "f64"), spec([4, "H"], "f64"));
    expect(p.inputs.map((v) => v.shape)).toEqual([
      ["T", 4],
      [4, "H"],
    ]);
    expect(p.outputs[0]!.shape).toEqual(["T"]);
    const text = p.toString();
    expect(text).toContain("f64[T,4]");
    expect(text).toContain("f64[4,H]");
    expect(text).toContain("f64[T,H]");
    // The gradient program keeps them too.
    expect(vjpProgram(p).toString()).toContain("f64[T,H]");
  });

  it("are bound by evalProgram to the argument sizes; results equal eager evaluation (30 runs)", () => {
    const p = trace(model, spec(["T", 4], "f64"), spec([4, "H"], "f64"));
    fc.assert(
      fc.property(
        fc
          .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }))
          .chain(([T, H]) => fc.tuple(tensorArb([T, 4]), tensorArb([4, H]))),
        ([x, w]) => {
          const [y] = evalProgram(p, [x, w]);
          expect(y!.shape).toEqual([x.shape[0]]);
          expect(Array.from(values(y!))).toEqual(Array.from(values(model(x, w))));
        },
      ),
      { numRuns: 30 },
    );
  });

  it("a named dim bound to two different sizes is an error naming the dim and both sizes", () => {
    const p = trace((a: Tensor, b: Tensor) => add(a, b), spec(["T", 2], "f64"), spec(["T", 2], "f64"));
    const e = thrown(() => evalProgram(p, [f64([1, 2, 3, 4, 5, 6], [3, 2]), f64([1, 2, 3, 4], [2, 2])]));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/named dim "T" is bound to 3 \(input 0, dim 0\) and to 2 \(input 1, dim 0\)/);
    expect(e.message).toContain("a named dim must have one size");
    // The first binding is reported even after other inputs agreed with it.
    const p3 = trace(
      (a: Tensor, b: Tensor, c: Tensor) => add(add(a, b), c),
      spec(["T"], "f64"),
      spec(["T"], "f64"),
      spec([2, "T"], "f64"),
    );
    const e3 = thrown(() => evalProgram(p3, [f64([1, 2, 3], [3]), f64([1, 2, 3], [3]), f64([1, 2, 3, 4], [2, 2])]));
    expect(e3.message).toMatch(/named dim "T" is bound to 3 \(input 0, dim 0\) and to 2 \(input 2, dim 1\)/);
  });
});
