import { mulberry32 } from "../../../autodiff/check";
/**
 * Test helpers for the classical mixtures: seeded random host data, conversion
 * to f64 tensors, plain-JS reference math, and gradient checks over pytrees.
 */
import { checkGrads, tensor, treeFlatten, treeUnflatten, type Tensor } from "../../../index";

/** A seeded uniform generator in [0, 1) (mulberry32), independent of the code under test. */
export const rng: (seed: number) => () => number = mulberry32;

/** Nested arrays of the given shape with entries uniform in [-scale, scale). */
export function randArray(rand: () => number, shape: readonly number[], scale = 1): any {
  if (shape.length === 0) return (rand() * 2 - 1) * scale;
  return Array.from({ length: shape[0]! }, () => randArray(rand, shape.slice(1), scale));
}

/** An f64 tensor from nested arrays (shape given so that empty or 1-element dims survive). */
export const f64 = (data: any, shape: readonly number[]): Tensor => tensor(data.flat?.(Infinity) ?? data, shape, "f64");

/** A random f64 tensor plus its nested-array value. */
export function randTensor(rand: () => number, shape: readonly number[], scale = 1): { t: Tensor; a: any } {
  const a = randArray(rand, shape, scale);
  return { t: f64(a, shape), a };
}

/** Nested arrays of a concrete tensor. */
export const arr = (t: Tensor): any => t.toArray();

/** The tests' one softmax reference (test/moe/reference.ts), under the name these tests use. */
export { softmaxV as softmaxRow } from "../reference";
export const logSumExp = (z: number[]): number => {
  const m = Math.max(...z);
  return m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
};
/** x w + b for one input row x [D], w [D][O], b [O]. */
export const affineRow = (x: number[], w: number[][], b: number[]): number[] =>
  b.map((bo, o) => x.reduce((s, xd, d) => s + xd * w[d]![o]!, bo));

/** checkGrads for a function whose first argument is a parameter pytree (the others are held fixed). */
export function checkTreeGrads(
  f: (params: any) => Tensor,
  params: unknown,
  options: Parameters<typeof checkGrads>[2] = {},
): void {
  const [leaves, def] = treeFlatten<Tensor>(params);
  checkGrads((...ls: Tensor[]) => f(treeUnflatten(def, ls)), leaves, { directions: 1, ...options });
}

/** Random gate {w [gateDim, E], b [E]} + expert bank {w [E, D, O], b [E, O]} as tensors, with their nested-array values. */
export function randomGatedExperts(r: () => number, d: number, e: number, o: number, gateDim = d) {
  const gw = randTensor(r, [gateDim, e]);
  const gb = randTensor(r, [e]);
  const ew = randTensor(r, [e, d, o]);
  const eb = randTensor(r, [e, o]);
  return {
    params: { gate: { w: gw.t, b: gb.t }, experts: { w: ew.t, b: eb.t } },
    a: { gw: gw.a, gb: gb.a, ew: ew.a, eb: eb.a },
  };
}
