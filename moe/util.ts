/** Small tensor helpers the MoE library shares (all built from public ops, so differentiable and traceable). */
import { arange, broadcastTo, dims, expandDims, ones, reshape, scalar, sum, type Dim, type Tensor } from "../core";
import { MoeConfigError } from "./check";

/**
 * Repeats `x` `reps` times along `axis` (numpy `repeat` of whole blocks, i.e. `tile` on one axis).
 * @example tile(tensor([1, 2]), 3) // [1, 2, 1, 2, 1, 2]
 */
export function tile(x: Tensor, reps: Dim, axis = 0): Tensor {
  const shape = x.shape;
  const expanded = broadcastTo(expandDims(x, axis), [...shape.slice(0, axis), reps, ...shape.slice(axis)]);
  return reshape(expanded, [...shape.slice(0, axis), dims.mul(reps, shape[axis]!), ...shape.slice(axis + 1)]);
}

/**
 * Repeats each entry of a 1-D tensor `reps` times (numpy `repeat`).
 * @example repeatEach(tensor([1, 2]), 2) // [1, 1, 2, 2]
 */
export function repeatEach(x: Tensor, reps: Dim): Tensor {
  const n = x.shape[0]!;
  return reshape(broadcastTo(reshape(x, [n, 1]), [n, reps]), [dims.mul(n, reps)]);
}

/** 0, 1, ..., n-1 as i32 (a thin alias that reads better in index arithmetic). */
export const iota = (n: Dim): Tensor => arange(n);

/**
 * A dim's value as an i32 scalar tensor. A symbolic dim (a token count, a
 * capacity of it) is counted on the device (the sum of that many ones), so
 * index arithmetic can use it with no host readback.
 * @example less(rank, dimScalar(C)) // rank < C, for any binding of T
 */
export function dimScalar(d: Dim): Tensor {
  return typeof d === "number" ? scalar(d, "i32") : sum(ones([d], "i32"));
}

/**
 * A positive factor as a fraction p/q with a small denominator (1.25 -> 5/4),
 * so a capacity of a symbolic T is exact integer arithmetic.
 */
export function rational(x: number, where: string): [number, number] {
  for (let q = 1; q <= 10_000; q++) {
    const p = Math.round(x * q);
    if (p > 0 && Math.abs(p / q - x) <= 1e-12 * x) return [p, q];
  }
  throw new MoeConfigError(
    `${where}: capacity factor ${x} is not a fraction with a denominator <= 10000; a symbolic token count needs an exact capacity (e.g. 1.25 = 5/4)`,
  );
}
