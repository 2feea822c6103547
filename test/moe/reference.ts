/**
 * Dense references in plain JavaScript (nested arrays, loops), written
 * independently of the library's tensor code: every expert is evaluated per
 * token, routing decisions are made with sorts and counters, and outputs are
 * masked sums over experts.
 */
import type { Tensor } from "../../index";

export type Vec = number[];
export type Mat = number[][];

export const vec = (t: Tensor): Vec => t.toArray() as Vec;
export const mat = (t: Tensor): Mat => t.toArray() as Mat;
export const mat3 = (t: Tensor): Mat[] => t.toArray() as Mat[];

/** Row vector times matrix. */
export function vecMat(x: Vec, w: Mat): Vec {
  const out = new Array<number>(w[0]!.length).fill(0);
  x.forEach((xi, i) => w[i]!.forEach((wij, j) => (out[j]! += xi * wij)));
  return out;
}

export const addV = (a: Vec, b: Vec): Vec => a.map((v, i) => v + b[i]!);
export const scaleV = (a: Vec, s: number): Vec => a.map((v) => v * s);
export const zerosV = (n: number): Vec => new Array<number>(n).fill(0);
export const relu1 = (v: number): number => (v > 0 ? v : 0);
export const sigmoid1 = (v: number): number => 1 / (1 + Math.exp(-v));
export const softplus1 = (v: number): number => Math.log1p(Math.exp(v));

export function softmaxV(v: Vec): Vec {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Indices of the k largest entries, descending, ties to the lower index. */
export function topKIdx(v: Vec, k: number): number[] {
  return v
    .map((x, i) => [x, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i);
}

/** One expert's forward on one token, by family. */
export type ExpertFn = (e: number, x: Vec) => Vec;

export function linearRef(w: Mat[], b: Mat): ExpertFn {
  return (e, x) => addV(vecMat(x, w[e]!), b[e]!);
}

export function ffnRef(w1: Mat[], b1: Mat, w2: Mat[], b2: Mat): ExpertFn {
  return (e, x) => addV(vecMat(addV(vecMat(x, w1[e]!), b1[e]!).map(relu1), w2[e]!), b2[e]!);
}

export function swigluRef(wg: Mat[], wu: Mat[], wd: Mat[]): ExpertFn {
  return (e, x) => {
    const g = vecMat(x, wg[e]!).map((v) => v * sigmoid1(v));
    const u = vecMat(x, wu[e]!);
    return vecMat(
      g.map((v, i) => v * u[i]!),
      wd[e]!,
    );
  };
}

/** One token-to-expert assignment with its combine weight. */
export interface Assignment {
  token: number;
  expert: number;
  weight: number;
}

/**
 * Masked dense combine: y_t = Σ over kept assignments of weight · expert(x_t).
 * With `capacity`, assignments are admitted in the given order while their
 * expert has room (a counter per expert); the rest are dropped.
 */
export function denseCombine(
  x: Mat,
  assignments: readonly Assignment[],
  expert: ExpertFn,
  dOut: number,
  capacity?: number,
) {
  const y = x.map(() => zerosV(dOut));
  const used = new Map<number, number>();
  let dropped = 0;
  for (const a of assignments) {
    const n = used.get(a.expert) ?? 0;
    if (capacity !== undefined && n >= capacity) {
      dropped++;
      continue;
    }
    used.set(a.expert, n + 1);
    y[a.token] = addV(y[a.token]!, scaleV(expert(a.expert, x[a.token]!), a.weight));
  }
  return { y, dropFraction: assignments.length ? dropped / assignments.length : 0 };
}

/** Top-k token-choice assignments in priority order: all first choices (token order), then all second choices, ... */
export function topKAssignments(
  probsOrLogits: Mat,
  k: number,
  weightOf: (t: number, chosen: number[], j: number) => number,
): Assignment[] {
  const chosen = probsOrLogits.map((row) => topKIdx(row, k));
  const out: Assignment[] = [];
  for (let j = 0; j < k; j++)
    chosen.forEach((c, t) => out.push({ token: t, expert: c[j]!, weight: weightOf(t, c, j) }));
  return out;
}
