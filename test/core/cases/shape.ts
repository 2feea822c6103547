/**
 * Gradient cases of the shape primitives (broadcastTo, reshape, transpose,
 * slice, pad, concat) through their public ops, on random shapes. All are
 * linear, so second order is trivially zero; one composite case checks it.
 */
import fc from "fast-check";
import { broadcastTo, concat, pad, reshape, slice, stack, tanh, transpose, type Tensor } from "../../../index";
import { numelOf, shapeArb, tensorArb, type GradCase, type GradSample } from "../helpers";

const LINEAR_RUNS = { vjp: 80, dual: 60, second: 0 };

/** A target shape for broadcasting `s`: extra leading dims, and its size-1 dims possibly expanded. */
function broadcastTargetArb(s: number[]): fc.Arbitrary<number[]> {
  return fc
    .tuple(shapeArb(0, 2, 1, 3), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: s.length, maxLength: s.length }))
    .map(([lead, grow]) => [...lead, ...s.map((d, i) => (d === 1 ? grow[i]! : d))]);
}

/** A random factorisation of n into a shape (rank 0 when n = 1 is allowed). */
function factorShapeArb(n: number): fc.Arbitrary<number[]> {
  return fc.array(fc.nat(), { minLength: 0, maxLength: 4 }).map((picks) => {
    const out: number[] = [];
    let rest = n;
    for (const p of picks) {
      const divisors = Array.from({ length: rest }, (_, i) => i + 1).filter((d) => rest % d === 0);
      const d = divisors[p % divisors.length]!;
      out.push(d);
      rest /= d;
    }
    if (rest !== 1 || out.length === 0) out.push(rest);
    return out;
  });
}

function permutationArb(rank: number): fc.Arbitrary<number[]> {
  const ids = Array.from({ length: rank }, (_, i) => i);
  return fc.shuffledSubarray(ids, { minLength: rank, maxLength: rank });
}

/** Per dim a [start, limit) range (possibly empty), written with negative indices half of the time. */
function sliceBoundsArb(s: number[]): fc.Arbitrary<[number[], number[]]> {
  return fc
    .tuple(...s.map((d) => fc.tuple(fc.integer({ min: 0, max: d }), fc.integer({ min: 0, max: d }), fc.boolean())))
    .map((dims) => {
      const starts = dims.map(([a, b, negative], i) => {
        const lo = Math.min(a, b);
        return negative && lo > 0 ? lo - s[i]! : lo;
      });
      const limits = dims.map(([a, b]) => Math.max(a, b));
      return [starts, limits];
    });
}

export const shapeCases: readonly GradCase[] = [
  {
    name: "broadcastTo",
    runs: LINEAR_RUNS,
    sample: shapeArb(0, 3)
      .chain((s) => fc.tuple(tensorArb(s), broadcastTargetArb(s)))
      .map(([x, target]): GradSample => ({ f: (t) => broadcastTo(t, target), args: [x] })),
  },
  {
    name: "reshape",
    runs: LINEAR_RUNS,
    sample: shapeArb(0, 3)
      .chain((s) => fc.tuple(tensorArb(s), factorShapeArb(numelOf(s))))
      .map(([x, target]): GradSample => ({ f: (t) => reshape(t, target), args: [x] })),
  },
  {
    name: "transpose",
    runs: LINEAR_RUNS,
    sample: shapeArb(0, 4)
      .chain((s) => fc.tuple(tensorArb(s), permutationArb(s.length)))
      .map(([x, perm]): GradSample => ({ f: (t) => transpose(t, perm), args: [x] })),
  },
  {
    name: "slice (empty ranges, negative starts)",
    runs: LINEAR_RUNS,
    sample: shapeArb(1, 3, 1, 4)
      .chain((s) => fc.tuple(tensorArb(s), sliceBoundsArb(s)))
      .map(([x, [starts, limits]]): GradSample => ({ f: (t) => slice(t, starts, limits), args: [x] })),
  },
  {
    name: "pad (constant value)",
    runs: LINEAR_RUNS,
    sample: shapeArb(0, 3)
      .chain((s) =>
        fc.tuple(
          tensorArb(s),
          fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })), {
            minLength: s.length,
            maxLength: s.length,
          }),
          fc.constantFrom(0, -1.5),
        ),
      )
      .map(([x, widths, value]): GradSample => ({ f: (t) => pad(t, widths, value), args: [x] })),
  },
  {
    name: "concat (2-3 operands, sizes 0-3 on the axis)",
    runs: LINEAR_RUNS,
    sample: shapeArb(1, 3)
      .chain((s) =>
        fc
          .tuple(
            fc.integer({ min: 0, max: s.length - 1 }),
            fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 2, maxLength: 3 }),
          )
          .chain(([axis, sizes]) =>
            fc.tuple(
              fc.constant(axis),
              fc.tuple(...sizes.map((n) => tensorArb(s.map((d, i) => (i === axis ? n : d))))),
            ),
          ),
      )
      .map(([axis, xs]): GradSample => ({ f: (...ts) => concat(ts, axis), args: xs })),
  },
  {
    name: "stack of tanh (composite; second order)",
    runs: { vjp: 60, dual: 45, second: 15 },
    sample: shapeArb(0, 2)
      .chain((s) => fc.tuple(tensorArb(s), tensorArb(s), fc.integer({ min: -s.length - 1, max: s.length })))
      .map(([a, b, axis]): GradSample => ({
        f: (x: Tensor, y: Tensor) => stack([tanh(x), x.mul(y)], axis),
        args: [a, b],
      })),
  },
];
