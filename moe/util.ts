/** Small tensor helpers the MoE library shares (all built from public ops, so differentiable and traceable). */
import { arange, broadcastTo, expandDims, reshape, type Tensor } from "../core";

/**
 * Repeats `x` `reps` times along `axis` (numpy `repeat` of whole blocks, i.e. `tile` on one axis).
 * @example tile(tensor([1, 2]), 3) // [1, 2, 1, 2, 1, 2]
 */
export function tile(x: Tensor, reps: number, axis = 0): Tensor {
  const shape = x.shape as number[];
  const expanded = broadcastTo(expandDims(x, axis), [...shape.slice(0, axis), reps, ...shape.slice(axis)]);
  return reshape(expanded, [...shape.slice(0, axis), reps * shape[axis]!, ...shape.slice(axis + 1)]);
}

/**
 * Repeats each entry of a 1-D tensor `reps` times (numpy `repeat`).
 * @example repeatEach(tensor([1, 2]), 2) // [1, 1, 2, 2]
 */
export function repeatEach(x: Tensor, reps: number): Tensor {
  const n = x.shape[0] as number;
  return reshape(broadcastTo(reshape(x, [n, 1]), [n, reps]), [n * reps]);
}

/** 0, 1, ..., n-1 as i32 (a thin alias that reads better in index arithmetic). */
export const iota = (n: number): Tensor => arange(n);

/** The static size of a dim, or an error naming the function that needed it. */
export function staticDim(x: Tensor, axis: number, where: string): number {
  const d = x.shape[axis < 0 ? x.shape.length + axis : axis];
  if (typeof d !== "number")
    throw new TypeError(`${where}: dim ${axis} of the input is "${String(d)}"; the MoE library needs concrete sizes`);
  return d;
}
