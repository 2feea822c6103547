/**
 * Gradient cases of the indexing primitives and of what is built on them:
 * take, gather (take_along_axis), scatterAdd and scatterAddAlong with repeated
 * indices, topK values and a top-k gated sum (distinct values: no ties),
 * sort values, oneHot-weighted sums, and a customVjp call with a correct rule.
 */
import fc from "fast-check";
import {
  cos,
  customVjp,
  gather,
  mul,
  oneHot,
  scatterAdd,
  sin,
  softmax,
  sort,
  sum,
  take,
  topK,
  type Tensor,
} from "../../../index";
import { distinctTensorArb, indicesArb, prim, shapeArb, tensorArb, type GradCase, type GradSample } from "../helpers";

/** An operand shape (rank 1-3) and an axis in it. */
const operandAndAxis = shapeArb(1, 3, 1, 3).chain((s) =>
  fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 })),
);

/** Indices shaped like the operand except `k` entries (1-4) along the axis: repeats are likely. */
function alongIndicesArb(s: number[], axis: number): fc.Arbitrary<Tensor> {
  return fc.integer({ min: 1, max: 4 }).chain((k) =>
    indicesArb(
      s.map((d, i) => (i === axis ? k : d)),
      s[axis]!,
    ),
  );
}

/** x * sin(y) with a hand-written (correct) reverse rule. */
const sinTimes = customVjp(
  (x: Tensor, y: Tensor) => mul(x, sin(y)),
  (x: Tensor, y: Tensor) => [mul(x, sin(y)), [x, y] as [Tensor, Tensor]],
  ([x, y]: [Tensor, Tensor], ct: Tensor) => [mul(ct, sin(y)), mul(ct, mul(x, cos(y)))],
);

export const indexingCases: readonly GradCase[] = [
  {
    name: "take (repeated indices, any axis)",
    runs: { vjp: 100, dual: 60, second: 15 },
    sample: operandAndAxis
      .chain(([s, axis]) =>
        fc.tuple(
          tensorArb(s),
          shapeArb(0, 2, 1, 4).chain((is) => indicesArb(is, s[axis]!)),
          fc.constant(axis),
        ),
      )
      .map(([x, idx, axis]): GradSample => ({ f: (t) => take(t, idx, axis).square(), args: [x] })),
  },
  {
    name: "gather (take_along_axis, repeated indices)",
    runs: { vjp: 100, dual: 60, second: 15 },
    sample: operandAndAxis
      .chain(([s, axis]) => fc.tuple(tensorArb(s), alongIndicesArb(s, axis), fc.constant(axis)))
      .map(([x, idx, axis]): GradSample => ({ f: (t) => gather(t, idx, axis).square(), args: [x] })),
  },
  {
    // The public gather broadcasts indices of size 1 against the operand's other dims.
    name: "gather (indices broadcast on the other dims)",
    runs: { vjp: 60, dual: 45, second: 0 },
    sample: operandAndAxis
      .chain(([s, axis]) =>
        fc.tuple(
          tensorArb(s),
          fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }).chain((ones) =>
            fc.integer({ min: 1, max: 4 }).chain((k) =>
              indicesArb(
                s.map((d, i) => (i === axis ? k : ones[i] ? 1 : d)),
                s[axis]!,
              ),
            ),
          ),
          fc.constant(axis),
        ),
      )
      .map(([x, idx, axis]): GradSample => ({ f: (t) => gather(t, idx, axis).square(), args: [x] })),
  },
  {
    name: "scatterAdd (repeated indices accumulate)",
    runs: { vjp: 100, dual: 60, second: 15 },
    sample: operandAndAxis
      .chain(([s, axis]) =>
        shapeArb(0, 2, 1, 4).chain((is) => {
          const updShape = [...s.slice(0, axis), ...is, ...s.slice(axis + 1)];
          return fc.tuple(tensorArb(s), indicesArb(is, s[axis]!), tensorArb(updShape), fc.constant(axis));
        }),
      )
      .map(([x, idx, upd, axis]): GradSample => ({
        f: (o, u) => scatterAdd(o, idx, u, axis).square(),
        args: [x, upd],
      })),
  },
  {
    name: "scatterAddAlong (repeated indices; primitive bound directly)",
    runs: { vjp: 100, dual: 60, second: 15 },
    sample: operandAndAxis
      .chain(([s, axis]) =>
        alongIndicesArb(s, axis).chain((idx) =>
          fc.tuple(tensorArb(s), fc.constant(idx), tensorArb(idx.shape as number[]), fc.constant(axis)),
        ),
      )
      .map(([x, idx, upd, axis]): GradSample => ({
        f: (o, u) => prim("scatterAddAlong", [o, idx, u], { axis }).square(),
        args: [x, upd],
      })),
  },
  {
    name: "topK values (distinct values)",
    runs: { vjp: 100, dual: 60, second: 0 },
    sample: shapeArb(1, 3, 1, 4)
      .chain((s) => fc.tuple(distinctTensorArb(s), fc.integer({ min: 1, max: s[s.length - 1]! })))
      .map(([x, k]): GradSample => ({ f: (t) => topK(t, k)[0], args: [x] })),
  },
  {
    name: "topK-weighted sum (softmax over top-k scores times picked experts)",
    runs: { vjp: 80, dual: 60, second: 15 },
    sample: fc
      .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 3 }))
      .chain(([T, E, D]) => fc.tuple(distinctTensorArb([T, E]), tensorArb([E, D]), fc.integer({ min: 1, max: E })))
      .map(([scores, experts, k]): GradSample => ({
        f: (s, e) => {
          const [vals, idx] = topK(s, k); // [T,k]
          const gates = softmax(vals); // [T,k]
          const picked = take(e, idx, 0); // [T,k,D]
          return sum(mul(picked, gates.expandDims(-1)), 1); // [T,D]
        },
        args: [scores, experts],
      })),
  },
  {
    name: "sort values (distinct values, any axis, both orders)",
    runs: { vjp: 100, dual: 60, second: 15 },
    sample: shapeArb(1, 3, 1, 4)
      .chain((s) => fc.tuple(distinctTensorArb(s), fc.integer({ min: -s.length, max: s.length - 1 }), fc.boolean()))
      // multiplied by x so that the result is not piecewise linear (second order sees a Hessian)
      .map(([x, axis, descending]): GradSample => ({ f: (t) => sort(t, axis, descending).mul(t), args: [x] })),
  },
  {
    name: "oneHot-weighted sum (selects x[t, idx[t]])",
    runs: { vjp: 80, dual: 60, second: 0 },
    sample: fc
      .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }))
      .chain(([T, n]) => fc.tuple(tensorArb([T, n]), indicesArb([T], n), fc.constant(n)))
      .map(([x, idx, n]): GradSample => ({ f: (t) => sum(mul(oneHot(idx, n, "f64"), t), -1), args: [x] })),
  },
  {
    // Forward mode through a customVjp function is undefined (like jax.custom_vjp): no JVP properties.
    name: "customVjpCall (x * sin(y) with a correct rule)",
    runs: { vjp: 80, dual: 0, second: 0 },
    sample: shapeArb(0, 2)
      .chain((s) => fc.tuple(tensorArb(s), tensorArb(s, -3, 3)))
      .map(([x, y]): GradSample => ({ f: sinTimes, args: [x, y] })),
  },
];
