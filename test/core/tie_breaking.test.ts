/**
 * Tie-breaking rules, on inputs full of ties (small integers), against
 * straightforward reference implementations:
 * - max/min (reduceMax/reduceMin) send the gradient and the tangent to the
 *   lowest index among equal extremes; argmax/argmin pick that index;
 * - maximum(a, b)/minimum(a, b) at a == b send the whole gradient to a;
 * - topK: descending, ties to the lower index, gradient to the chosen entries;
 * - argsort/sort: stable in both orders.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  argmax,
  argmin,
  argsort,
  grad,
  jvp,
  max,
  maximum,
  min,
  minimum,
  mul,
  sort,
  sum,
  topK,
  type Tensor,
} from "../../index";
import { f64, numelOf, randomLike, rng, shapeArb, values } from "./helpers";

const RUNS = 40;

/** Small integers: ties are the common case. */
function tiedTensorArb(shape: readonly number[]): fc.Arbitrary<Tensor> {
  const n = numelOf(shape);
  return fc.array(fc.integer({ min: -2, max: 2 }), { minLength: n, maxLength: n }).map((v) => f64(v, shape));
}

/** Flat indices of each fiber along `axis` (row-major), in order along the axis. */
function fibers(shape: readonly number[], axis: number): number[][] {
  const inner = numelOf(shape.slice(axis + 1));
  const outer = numelOf(shape.slice(0, axis));
  const len = shape[axis]!;
  const out: number[][] = [];
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) out.push(Array.from({ length: len }, (_, k) => (o * len + k) * inner + i));
  return out;
}

/** Reference: position (within the fiber) of the first extreme element. */
function firstExtreme(xs: Float64Array, fiber: number[], better: (a: number, b: number) => boolean): number {
  let best = 0;
  for (let k = 1; k < fiber.length; k++) if (better(xs[fiber[k]!]!, xs[fiber[best]!]!)) best = k;
  return best;
}

/** Reference stable order of a row (JS sort is stable). */
function stableOrder(row: number[], descending: boolean): number[] {
  return row.map((_, i) => i).sort((i, j) => (descending ? row[j]! - row[i]! : row[i]! - row[j]!));
}

const withAxis = shapeArb(1, 3, 1, 4).chain((s) =>
  fc.tuple(tiedTensorArb(s), fc.integer({ min: 0, max: s.length - 1 }), fc.nat()),
);

describe.each([
  ["max", max, argmax, (a: number, b: number) => a > b],
  ["min", min, argmin, (a: number, b: number) => a < b],
] as const)("%s at ties", (_name, reduce, argReduce, better) => {
  it(`gradient, tangent and arg-index go to the lowest index among equal extremes (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(withAxis, ([x, axis, seed]) => {
        const xs = values(x);
        const shape = x.shape as number[];
        const rand = rng(seed);
        const y = reduce(x, axis);
        const u = randomLike(y, rand);
        const v = randomLike(x, rand);
        const g = values(grad((t: Tensor) => sum(mul(reduce(t, axis), u)))(x) as Tensor);
        const [, tOut] = jvp((t: Tensor) => reduce(t, axis), [x], [v]);
        const arg = values(argReduce(x, axis));
        const us = values(u);
        const vs = values(v);
        const ts = values(tOut as Tensor);
        const want = new Float64Array(xs.length);
        fibers(shape, axis).forEach((fiber, r) => {
          const k = firstExtreme(xs, fiber, better);
          want[fiber[k]!] = us[r]!;
          expect(arg[r]).toBe(k);
          expect(ts[r]).toBe(vs[fiber[k]!]);
        });
        expect(Array.from(g)).toEqual(Array.from(want));
      }),
      { numRuns: RUNS },
    );
  });
});

describe.each([
  ["maximum", maximum],
  ["minimum", minimum],
] as const)("%s(a, b) at a == b", (_name, op) => {
  it(`sends the whole gradient to the first operand (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        shapeArb(0, 3).chain((s) => fc.tuple(tiedTensorArb(s), tiedTensorArb(s))),
        ([a, b]) => {
          const [ga, gb] = grad((p: Tensor, q: Tensor) => sum(op(p, q)), { argnums: [0, 1] })(a, b) as [Tensor, Tensor];
          const as = values(a);
          const bs = values(b);
          const better = op === maximum ? (p: number, q: number) => p >= q : (p: number, q: number) => p <= q;
          expect(Array.from(values(ga))).toEqual(Array.from(as, (x, i) => (better(x, bs[i]!) ? 1 : 0)));
          expect(Array.from(values(gb))).toEqual(Array.from(as, (x, i) => (better(x, bs[i]!) ? 0 : 1)));
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("topK at ties", () => {
  it(`returns the k largest in descending order, ties to the lower index, gradient to those entries (${RUNS} runs)`, () => {
    const arb = shapeArb(1, 3, 1, 5).chain((s) =>
      fc.tuple(tiedTensorArb(s), fc.integer({ min: 1, max: s[s.length - 1]! })),
    );
    fc.assert(
      fc.property(arb, ([x, k]) => {
        const shape = x.shape as number[];
        const n = shape[shape.length - 1]!;
        const xs = Array.from(values(x));
        const [vals, idx] = topK(x, k);
        const g = values(grad((t: Tensor) => sum(mul(topK(t, k)[0], 2)))(x) as Tensor);
        const wantIdx: number[] = [];
        const wantGrad = new Array<number>(xs.length).fill(0);
        for (let r = 0; r < xs.length / n; r++) {
          const row = xs.slice(r * n, (r + 1) * n);
          const order = stableOrder(row, true).slice(0, k);
          wantIdx.push(...order);
          for (const j of order) wantGrad[r * n + j] = 2;
        }
        expect(idx.dtype).toBe("i32");
        expect(Array.from(idx.dataSync())).toEqual(wantIdx);
        expect(Array.from(values(vals))).toEqual(wantIdx.map((j, i) => xs[Math.floor(i / k) * n + j]!));
        expect(Array.from(g)).toEqual(wantGrad);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("argsort and sort", () => {
  it(`are stable in both orders along any axis (${RUNS} runs)`, () => {
    const arb = shapeArb(1, 3, 1, 5).chain((s) =>
      fc.tuple(tiedTensorArb(s), fc.integer({ min: 0, max: s.length - 1 }), fc.boolean()),
    );
    fc.assert(
      fc.property(arb, ([x, axis, descending]) => {
        const xs = values(x);
        const order = values(argsort(x, axis, descending));
        const sorted = values(sort(x, axis, descending));
        for (const fiber of fibers(x.shape as number[], axis)) {
          const row = fiber.map((i) => xs[i]!);
          const want = stableOrder(row, descending);
          expect(fiber.map((i) => order[i])).toEqual(want);
          expect(fiber.map((i) => sorted[i])).toEqual(want.map((j) => row[j]));
        }
      }),
      { numRuns: RUNS },
    );
  });
});
