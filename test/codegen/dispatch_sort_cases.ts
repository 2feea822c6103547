/**
 * Programs and inputs for the dispatch sort's tests (test/codegen/dispatch_sort_blocks.test.ts and its
 * WebGPU twin): every output the dispatch kernel writes, on keys with random, skewed or empty-bin routing.
 */
import type { Program } from "../../dsl/program";
import {
  arange,
  argsort,
  bincount,
  cumsum,
  reshape,
  scatterAdd,
  spec,
  sub,
  take,
  topK,
  trace,
  zeros,
  type Tensor,
} from "../../index";
import { mulberry32, randomFloats } from "../../testing/random_programs";
import { SMALL_GPU_KNOBS } from "./runners";

/** Key counts from 256 take many workgroups (8-thread workgroups of 16 keys each: 128 keys per block). */
export const MANY_KNOBS = { ...SMALL_GPU_KNOBS, dispatchSortManyFrom: 256 };

const D = 3;

/**
 * The keys are each row's top-K column of `v` [T, E] (proven in [0, E)); the program returns every output
 * the dispatch kernel writes: the argsort, bincounts (E and E + 2 long), the inclusive and exclusive prefix
 * sums, a segment sum through the sorted keys and a gather-sum through the inverse permutation.
 */
export function sortProgram(T: number | "T", E: number, K: number, descending = false): Program {
  return trace(
    (v: Tensor, x: Tensor, rows: Tensor) => {
      const u = reshape(rows, [-1, D]);
      const keys = reshape(topK(v, K)[1], [-1]);
      const perm = argsort(keys, 0, descending);
      const counts = bincount(keys, E);
      const ends = cumsum(counts, 0);
      const outs = [perm, counts, bincount(keys, E + 2), ends, sub(ends, counts)];
      if (descending) return outs;
      // Bin b's rows summed (a segment sum), and u's rows put back in key order (a gather through the inverse).
      return [...outs, scatterAdd(x, take(keys, perm), u), scatterAdd(u, perm, u)];
    },
    spec([T, E]),
    spec([E, D]),
    spec([T, K * D]),
  );
}

/** The sort's permutation and its inverse as the capacity dispatch writes it: scatterAdd(0, perm, iota). */
export function inverseProgram(T: number, E: number, K: number): Program {
  return trace(
    (v: Tensor) => {
      const keys = reshape(topK(v, K)[1], [-1]);
      const perm = argsort(keys);
      return [perm, scatterAdd(zeros([T * K], "i32"), perm, arange(T * K))];
    },
    spec([T, E]),
  );
}

export type Routing = "random" | "skewed" | "empty";

/** v favours column 0 (skewed: > 90% of the first picks), or never picks the last columns (empty). */
export function sortInputs(T: number, E: number, K: number, routing: Routing, seed: number): Tensor[] {
  const rng = mulberry32(seed);
  const v = randomFloats(rng, "f32", [T, E]);
  const data = v._value().data as Float32Array;
  for (let t = 0; t < T; t++)
    for (let e = 0; e < E; e++) {
      if (routing === "skewed" && e === 0 && t % 20 !== 0) data[t * E + e] = 20;
      if (routing === "empty" && e >= E - 2) data[t * E + e] = -20;
    }
  return [v, randomFloats(rng, "f32", [E, D]), randomFloats(rng, "f32", [T, K * D])];
}
