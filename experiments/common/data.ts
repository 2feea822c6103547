import { mulberry32 } from "../../autodiff/check";
/**
 * Seeded synthetic-data helpers for the experiments: a small PRNG (so the data
 * do not depend on the library under study) and Gaussian draws.
 */

/** A seeded generator of uniforms in [0, 1) (mulberry32). */
export const seededUniform: (seed: number) => () => number = mulberry32;

/** A seeded standard-normal generator (Box-Muller over `seededUniform`). */
export function seededNormal(seed: number): () => number {
  const u = seededUniform(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** An n x m matrix of independent N(0, scale²) draws. */
export function gaussianMatrix(normal: () => number, n: number, m: number, scale = 1): number[][] {
  return Array.from({ length: n }, () => Array.from({ length: m }, () => normal() * scale));
}

/** A random orthogonal n x n matrix (Gram-Schmidt on Gaussian columns). */
export function randomRotation(normal: () => number, n: number): number[][] {
  const cols: number[][] = [];
  while (cols.length < n) {
    let v = Array.from({ length: n }, normal);
    for (const c of cols) {
      const dot = v.reduce((s, x, i) => s + x * c[i]!, 0);
      v = v.map((x, i) => x - dot * c[i]!);
    }
    const norm = Math.hypot(...v);
    if (norm > 1e-6) cols.push(v.map((x) => x / norm));
  }
  return Array.from({ length: n }, (_, i) => cols.map((c) => c[i]!));
}

/** Matrix-vector product for small host matrices. */
export const matVec = (a: readonly (readonly number[])[], v: readonly number[]): number[] =>
  a.map((row) => row.reduce((s, x, i) => s + x * v[i]!, 0));

/** Rounds for JSON output (keeps result files readable). */
export const round = (x: number, digits = 4): number => Number(x.toFixed(digits));
