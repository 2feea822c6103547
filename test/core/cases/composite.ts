/**
 * Gradient cases of composite ops (written in terms of primitives in
 * dsl/ops.ts): softmax, logSoftmax, gelu, silu, softplus, relu (away from its
 * kink at 0) and a where-based leaky relu.
 */
import fc from "fast-check";
import { gelu, greater, logSoftmax, mul, relu, silu, softmax, softplus, where, type Tensor } from "../../../index";
import { awayFromZeroArb, shapeArb, tensorArb, type GradCase, type GradSample } from "../helpers";

function activationCase(
  name: string,
  fn: (x: Tensor) => Tensor,
  arg: (s: number[]) => fc.Arbitrary<Tensor>,
  second: number,
): GradCase {
  return {
    name,
    runs: { vjp: 80, dual: 60, second },
    sample: shapeArb(0, 3)
      .chain(arg)
      .map((x): GradSample => ({ f: fn, args: [x] })),
  };
}

function axisCase(name: string, fn: (x: Tensor, axis: number) => Tensor): GradCase {
  return {
    name,
    runs: { vjp: 100, dual: 60, second: 24 },
    sample: shapeArb(1, 3, 1, 4)
      .chain((s) => fc.tuple(tensorArb(s, -3, 3), fc.integer({ min: -s.length, max: s.length - 1 })))
      .map(([x, axis]): GradSample => ({ f: (t) => fn(t, axis), args: [x] })),
  };
}

export const compositeCases: readonly GradCase[] = [
  axisCase("softmax (any axis)", softmax),
  axisCase("logSoftmax (any axis)", logSoftmax),
  activationCase("gelu (tanh approximation)", gelu, (s) => tensorArb(s, -3, 3), 24),
  activationCase("silu", silu, (s) => tensorArb(s, -4, 4), 24),
  activationCase("softplus", softplus, (s) => awayFromZeroArb(s, 0.05, 4), 24),
  activationCase("relu (abs(x) >= 0.05)", relu, (s) => awayFromZeroArb(s), 0),
  activationCase(
    "where: leaky relu (abs(x) >= 0.05)",
    (x) => where(greater(x, 0), x, mul(x, 0.1)),
    (s) => awayFromZeroArb(s),
    0,
  ),
];
