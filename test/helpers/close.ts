/**
 * The tests' one closeness assertion for host values. Backends against the
 * interpreter go through the one harness instead, `runAndCompare` /
 * `compareOutputs` (testing/random_programs.ts: dtypes and shapes equal, floats
 * to a relative 2-norm error, integers and bools exactly).
 */
import { Tensor } from "../../dsl/tensor";

/** A host tensor, a number, or nested arrays of them. */
export type Numeric = Tensor | number | readonly unknown[];

/**
 * Asserts that `got` and `want` (host tensors, numbers or nested arrays, mixed
 * freely) have the same nesting and lengths and agree elementwise:
 * |got - want| <= tol * max(1, |want|), i.e. relative for large values and
 * absolute below 1. NaN never passes. The error names the first element that
 * differs by its path (`value[2][0]`).
 * @example expectClose(layer.apply(p, x).y, refRows, 1e-10)
 */
export function expectClose(got: unknown, want: unknown, tol = 1e-9, path = "value"): void {
  const g = got instanceof Tensor ? got.toArray() : got;
  const w = want instanceof Tensor ? want.toArray() : want;
  if (Array.isArray(w)) {
    if (!Array.isArray(g) || g.length !== w.length)
      throw new Error(`${path}: got ${describe(g)}, expected an array of length ${w.length}`);
    w.forEach((x, i) => expectClose(g[i], x, tol, `${path}[${i}]`));
    return;
  }
  if (typeof g !== "number" || typeof w !== "number")
    throw new Error(`${path}: got ${describe(g)}, expected ${describe(w)} (numbers or arrays of them)`);
  if (!(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w))))
    throw new Error(`${path}: got ${g}, expected ${w} (tol ${tol}, difference ${Math.abs(g - w)})`);
}

function describe(x: unknown): string {
  return Array.isArray(x) ? `an array of length ${x.length}` : typeof x === "number" ? String(x) : typeof x;
}
