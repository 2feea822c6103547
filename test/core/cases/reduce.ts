/**
 * Gradient cases of reductions and scans: reduceSum (sum), reduceMax/reduceMin
 * (max/min over distinct values: no ties), cumsum in both directions, and the
 * composites mean and logsumexp.
 */
import fc from "fast-check";
import { cumsum, logsumexp, max, mean, min, sum, type Tensor } from "../../../index";
import { distinctTensorArb, shapeArb, tensorArb, type GradCase, type GradSample } from "../helpers";

/** Axes to reduce: omitted (all), one (possibly negative) or a subset, plus keepdims. */
function axesArb(rank: number): fc.Arbitrary<[number | number[] | undefined, boolean]> {
  const ids = Array.from({ length: rank }, (_, i) => i);
  const axes: fc.Arbitrary<number | number[] | undefined> =
    rank === 0
      ? fc.constant(undefined)
      : fc.oneof(fc.constant(undefined), fc.integer({ min: -rank, max: rank - 1 }), fc.subarray(ids, { minLength: 1 }));
  return fc.tuple(axes, fc.boolean());
}

function reductionCase(
  name: string,
  fn: (x: Tensor, axis: number | number[] | undefined, keepdims: boolean) => Tensor,
  values: (shape: number[]) => fc.Arbitrary<Tensor>,
  runs: GradCase["runs"],
): GradCase {
  return {
    name,
    runs,
    sample: shapeArb(0, 3)
      .chain((s) => fc.tuple(values(s), axesArb(s.length)))
      .map(([x, [axis, keepdims]]): GradSample => ({ f: (t) => fn(t, axis, keepdims), args: [x] })),
  };
}

function cumsumCase(reverse: boolean): GradCase {
  return {
    name: reverse ? "cumsum (reverse)" : "cumsum (forward)",
    runs: { vjp: 80, dual: 60, second: 9 },
    sample: shapeArb(1, 3, 1, 4)
      .chain((s) => fc.tuple(tensorArb(s), fc.integer({ min: -s.length, max: s.length - 1 })))
      // squared so that the second-order check sees a nonzero Hessian
      .map(([x, axis]): GradSample => ({ f: (t) => cumsum(t, axis, reverse).square(), args: [x] })),
  };
}

export const reduceCases: readonly GradCase[] = [
  reductionCase("reduceSum (sum over axes, keepdims)", sum, (s) => tensorArb(s), { vjp: 100, dual: 60, second: 0 }),
  reductionCase("reduceMax (max over axes, distinct values)", max, distinctTensorArb, {
    vjp: 100,
    dual: 60,
    second: 15,
  }),
  reductionCase("reduceMin (min over axes, distinct values)", min, distinctTensorArb, {
    vjp: 100,
    dual: 60,
    second: 0,
  }),
  cumsumCase(false),
  cumsumCase(true),
  reductionCase("mean", mean, (s) => tensorArb(s), { vjp: 80, dual: 45, second: 0 }),
  reductionCase("logsumexp", logsumexp, (s) => tensorArb(s, -3, 3), { vjp: 80, dual: 45, second: 24 }),
];
