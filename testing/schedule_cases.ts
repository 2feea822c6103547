/**
 * Programs that exercise every schedule a device class can pick (register-tiled
 * and shared-memory GEMMs, skinny GEMMs, grouped GEMMs and their weight
 * gradient, thread-per-row and workgroup reductions), each forward and as its
 * gradient program, on fresh random non-zero inputs. Sizes are not multiples of
 * any tile, groups are empty or skewed. `scale` 1 is for the JS target; WebGPU
 * tests take the tiny set (`{ tiny: true }`).
 */
import * as ops from "../dsl/ops";
import { spec, trace } from "../dsl/api";
import type { Tensor } from "../dsl/tensor";
import { tensor } from "../dsl/creation";
import { gradientCase, mulberry32, randomFloats, type RandomCase } from "./random_programs";

export interface ScheduleCaseOptions {
  /** Fewer, smaller cases (WebGPU on SwiftShader). */
  readonly tiny?: boolean;
  readonly seed?: number;
}

/** Random floats in [-1, -0.25] U [0.25, 1]: never zero, so a dropped term always shows. */
function nonZero(rng: () => number, shape: readonly number[]): Tensor {
  const x = randomFloats(rng, "f32", shape);
  return ops.add(ops.mul(ops.sign(x), 0.25), ops.mul(x, 0.75));
}

/** Forward cases; `scheduleCases` adds the gradient of each. */
function forwardCases(options: ScheduleCaseOptions): RandomCase[] {
  const rng = mulberry32(options.seed ?? 17);
  const tiny = options.tiny ?? false;
  const cases: RandomCase[] = [];
  const add = (description: string, f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]) =>
    cases.push({
      description,
      program: trace(f, ...inputs.map((x) => spec(x.shape as number[], x.dtype))),
      inputs,
    });
  const matmul = (a: Tensor, b: Tensor) => ops.matmul(a, b);
  // Dense GEMMs: N > 16 (register or shared tiles), tails in every dimension.
  const dense: [number, number, number][] = tiny
    ? [[9, 5, 19]]
    : [
        [1, 1, 17],
        [13, 7, 19],
        [21, 37, 33],
      ];
  for (const [m, k, n] of dense)
    add(`matmul [${m},${k}] x [${k},${n}]`, matmul, [nonZero(rng, [m, k]), nonZero(rng, [k, n])]);
  // Batched, with broadcasting batch dims.
  add("batched matmul [2,1,5,9] x [3,9,18]", matmul, [nonZero(rng, [2, 1, 5, 9]), nonZero(rng, [3, 9, 18])]);
  // Skinny N: one thread per output row block.
  for (const n of tiny ? [1, 8] : [1, 3, 8, 16])
    add(`skinny matmul [19,10] x [10,${n}]`, matmul, [nonZero(rng, [19, 10]), nonZero(rng, [10, n])]);
  // Grouped GEMMs: empty groups, one group holding nearly every row.
  const groups: number[][] = tiny
    ? [[0, 9, 0, 2]]
    : [
        [0, 5, 0, 12],
        [15, 1, 0, 1],
        [0, 0, 17, 0],
      ];
  for (const gs of groups) {
    const m = gs.reduce((x, y) => x + y, 0);
    add(`raggedMatmul [${m},6] x [${gs.length},6,18] groups ${gs.join(",")}`, (x, w, g) => ops.raggedMatmul(x, w, g), [
      nonZero(rng, [m, 6]),
      nonZero(rng, [gs.length, 6, 18]),
      tensor(gs, [gs.length], "i32"),
    ]);
  }
  // Row reductions: lengths 1, short, not a multiple of any workgroup, a few long rows, many long rows.
  const rows: [number, number][] = tiny
    ? [
        [3, 1],
        [5, 37],
      ]
    : [
        [1, 1],
        [3, 5],
        [40, 63],
        [2, 300],
        [2, 5000],
        [20, 4097],
      ];
  for (const [r, len] of rows) {
    add(`sum and max of rows [${r},${len}]`, (x) => ops.add(ops.sum(x, -1), ops.max(x, -1)), [nonZero(rng, [r, len])]);
  }
  return cases;
}

/**
 * Every case forward and as its reverse-mode gradient program (random cotangents).
 * @example for (const c of scheduleCases()) await runAndCompare(runner, c.program, c.inputs);
 */
export function scheduleCases(options: ScheduleCaseOptions = {}): RandomCase[] {
  return forwardCases(options).flatMap((c, i) => [c, gradientCase(c, (options.seed ?? 17) + i)]);
}
