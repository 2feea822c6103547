/**
 * Shared test machinery for the MoE library: f64 random tensors from seeds,
 * fast-check size arbitraries, and a `checkGrads` wrapper with tolerances for
 * f64 central differences.
 *
 * Gradient checks go through routing, which is piecewise constant in the
 * parameters: the selected experts, capacity ranks and kept/dropped flags
 * change only when two router scores cross. Inputs are continuous random
 * draws, so scores are distinct with probability 1 and, with the finite
 * difference step of 1e-6, stay on the same side of every crossing except with
 * negligible probability: the selection is locally constant and the checks see
 * only the gradient through the selected weights.
 */
import fc from "fast-check";
import { checkGrads, random, tensor, tree, type Tensor } from "../../index";

/** A standard-normal f64 tensor from a seed, scaled. */
export function randn(seed: number, shape: readonly number[], scale = 1): Tensor {
  const t = random.normal(random.key(seed), shape, "f64");
  return scale === 1 ? t : t.mul(scale);
}

/** Gradient check in f64 (forward and reverse against central differences). */
export function expectGradsOk(f: (...args: Tensor[]) => unknown, args: readonly Tensor[], seed = 0): void {
  checkGrads(f, args, { eps: 1e-6, rtol: 1e-5, atol: 1e-7, seed });
}

/** Sizes of a small routing problem: tokens, experts, experts per token, model dim, hidden dim, and a seed. */
export interface RoutingSizes {
  T: number;
  E: number;
  k: number;
  D: number;
  H: number;
  seed: number;
}

/** Tiny random routing problems (the interpreter is slow-ish; sizes stay small). */
export const routingSizes = (
  opts: { maxT?: number; maxE?: number; minE?: number; maxK?: number } = {},
): fc.Arbitrary<RoutingSizes> =>
  fc
    .record({
      T: fc.integer({ min: 1, max: opts.maxT ?? 6 }),
      E: fc.integer({ min: opts.minE ?? 1, max: opts.maxE ?? 4 }),
      kRaw: fc.integer({ min: 1, max: 4 }),
      D: fc.integer({ min: 1, max: 3 }),
      H: fc.integer({ min: 1, max: 3 }),
      seed: fc.integer({ min: 0, max: 1_000_000 }),
    })
    .map(({ T, E, kRaw, D, H, seed }) => ({ T, E, k: Math.min(kRaw, E, opts.maxK ?? 4), D, H, seed }));

/** fast-check settings for the (slow-ish) gradient properties. */
export const FEW = { numRuns: 12 } as const;
/** fast-check settings for cheaper forward properties. */
export const SOME = { numRuns: 30 } as const;

/** Replaces every leaf of a parameter pytree with fresh N(0, scale²) f64 draws (so biases are nonzero too). */
export function randomize<P>(params: P, seed: number, scale = 1): P {
  const [leaves, def] = tree.flatten(params);
  return tree.unflatten<P>(
    def,
    leaves.map((l, i) => randn(seed * 101 + i, l.shape as number[], scale)),
  );
}

/** Expert groups from per-expert row counts: i32 sizes and the non-decreasing expert id of each row. */
export function groupsFrom(sizes: readonly number[]): { sizes: Tensor; ids: Tensor; rowExpert: number[] } {
  const rowExpert = sizes.flatMap((n, e) => new Array<number>(n).fill(e));
  return { sizes: tensor(sizes, [sizes.length], "i32"), ids: tensor(rowExpert, [rowExpert.length], "i32"), rowExpert };
}

/**
 * Whether every row's entries are pairwise at least `gap` apart. Gradient
 * checks of selections need it: at a near-tie, the finite-difference step can
 * swap two selected entries (or their order), which is a real discontinuity of
 * the routing, not a gradient error. Smooth random draws rarely tie, but
 * low-dimensional inputs make near-ties likely (e.g. two tokens near the peak
 * of the same softmax column), so such samples are skipped with `fc.pre`.
 */
export function separated(rows: readonly (readonly number[])[], gap = 1e-5): boolean {
  return rows.every((row) => {
    const s = [...row].sort((a, b) => a - b);
    return s.every((v, i) => i === 0 || v - s[i - 1]! >= gap);
  });
}
