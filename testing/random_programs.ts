/**
 * Random Programs for differential testing of backends against the interpreter.
 *
 * `randomProgramArb(options)` is a fast-check arbitrary of `RandomCase`s: a traced
 * Program (elementwise chains, broadcasts, reductions over random axes, matmuls,
 * gathers/takes/scatters with repeated indices, cumsum, topK, sort/argsort,
 * movement ops, random bits) on random shapes (sizes 1 and primes; optionally one
 * input with more than 65535 elements) with random input data that is never zero.
 * `gradientCase` turns a case into its reverse-mode gradient program
 * (`vjpProgram`) with random cotangents. `runAndCompare` runs a program on a
 * backend and on the interpreter and checks the outputs agree (floats: relative
 * error in 2-norm <= rtol; integers and bools: exactly).
 *
 * @example
 * fc.assert(fc.asyncProperty(randomProgramArb(), async (c) => {
 *   await runAndCompare((p, xs) => cpuBackend.run(p, xs), c.program, c.inputs, 1e-4);
 * }), { numRuns: 50 });
 */
import fc from "fast-check";
import { mulberry32 } from "../autodiff/check";
import { vjpProgram } from "../autodiff/vjp";
import { NDArray } from "../dsl/ndarray";
import { allocArray, isFloat, type DType } from "../dsl/dtype";
import * as ops from "../dsl/ops";
import type { Aval, Program } from "../dsl/program";
import * as random from "../dsl/random";
import { broadcastShapes, numel, shapeToString } from "../dsl/shape";
import { Tensor } from "../dsl/tensor";
import type { Dim } from "../dsl/dims";
import { bind, evalProgram, withNewTrace, type TraceBuilder } from "../dsl/trace";

/** Dimension sizes the generator draws from: 1 and small primes. */
export const RANDOM_DIMS = [1, 2, 3, 5, 7, 11, 13] as const;

/** Shapes with more than 65535 elements (past WebGPU's per-dimension workgroup limit at 1 element per thread). */
export const LARGE_SHAPES: readonly (readonly number[])[] = [[65537], [263, 257], [3, 131, 167]];

export const STEP_KINDS = [
  "unary",
  "binaryNew",
  "binaryPool",
  "reduce",
  "softmax",
  "matmul",
  "take",
  "gather",
  "scatterAdd",
  "cumsum",
  "topK",
  "sort",
  "argmax",
  "move",
  "random",
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** One step of a recipe: `kind` picks the op family, `a`/`b`/`c`/`flag` its parameters (read modulo what fits). */
export interface Step {
  readonly kind: StepKind;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly flag: boolean;
}

/** A recipe: everything a random program and its data are built from (fast-check shrinks this). */
export interface Recipe {
  readonly shape: readonly number[];
  readonly steps: readonly Step[];
  readonly seed: number;
  readonly outputs: number;
}

export interface RandomProgramOptions {
  /** Maximum number of steps (default 6). */
  readonly maxSteps?: number;
  /** Draw the first input from `LARGE_SHAPES` (more than 65535 elements). Default false. */
  readonly large?: boolean;
  /** Op families to draw from (default: all of `STEP_KINDS`). */
  readonly kinds?: readonly StepKind[];
  /** Float dtype of the program (default "f32"). */
  readonly dtype?: "f32" | "f64";
  /**
   * Feed index-producing ops (topK, argsort, argmax) only with program inputs, so
   * backends whose transcendental functions differ in the last bit cannot flip a
   * near-tie (default true).
   */
  readonly stableIndices?: boolean;
}

/** A program with concrete inputs to run it on. */
export interface RandomCase {
  readonly program: Program;
  readonly inputs: readonly Tensor[];
  /** The recipe, as text (printed when a comparison fails). */
  readonly description: string;
}

// One host PRNG for the whole project (checkGrads draws its directions with it too).
export { mulberry32 };

/** Random floats in ±[0.25, 1.25] * scale: never zero, well conditioned. */
export function randomFloats(rng: () => number, dtype: DType, shape: readonly number[], scale = 1): Tensor {
  const data = allocArray(dtype, numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = (rng() < 0.5 ? -1 : 1) * (0.25 + rng()) * scale;
  return Tensor._concrete(new NDArray(dtype, shape, data));
}

/** Random i32 indices in [0, bound) (repeats likely). */
export function randomIndices(rng: () => number, shape: readonly number[], bound: number): Tensor {
  const data = new Int32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng() * bound);
  return Tensor._concrete(new NDArray("i32", shape, data));
}

/** Arbitrary of one recipe step over `kinds`. */
export const stepArb = (kinds: readonly StepKind[]): fc.Arbitrary<Step> =>
  fc.record({ kind: fc.constantFrom(...kinds), a: fc.nat(999), b: fc.nat(999), c: fc.nat(999), flag: fc.boolean() });

/** The arbitrary of recipes (exported so tests can shrink and print recipes directly). */
export function recipeArb(options: RandomProgramOptions = {}): fc.Arbitrary<Recipe> {
  const shape = options.large
    ? fc.constantFrom(...LARGE_SHAPES)
    : fc.array(fc.constantFrom(...RANDOM_DIMS), { minLength: 1, maxLength: 3 });
  return fc.record({
    shape,
    steps: fc.array(stepArb(options.kinds ?? STEP_KINDS), { minLength: 1, maxLength: options.maxSteps ?? 6 }),
    seed: fc.nat(),
    outputs: fc.integer({ min: 1, max: 2 }),
  });
}

/** Fast-check arbitrary of random programs with inputs. */
export function randomProgramArb(options: RandomProgramOptions = {}): fc.Arbitrary<RandomCase> {
  return recipeArb(options).map((r) => buildCase(r, options));
}

/** Builds the program and inputs a recipe describes (deterministic). */
export function buildCase(recipe: Recipe, options: RandomProgramOptions = {}): RandomCase {
  const dtype = options.dtype ?? "f32";
  const stable = options.stableIndices ?? true;
  const maxElems = options.large ? 400_000 : 20_000;
  const rng = mulberry32(recipe.seed);
  const data: Tensor[] = [];
  const log: string[] = [`shape [${recipe.shape.join(",")}] seed ${recipe.seed}`];
  const program = withNewTrace((b) => {
    const input = (value: Tensor): Tensor => {
      data.push(value);
      return b.addInput({ shape: value.shape, dtype: value.dtype } as Aval);
    };
    const x0 = input(randomFloats(rng, dtype, recipe.shape));
    const ctx: BuildCtx = { b, rng, dtype, input, pool: [x0], inputs: [x0], extra: [], maxElems, stable };
    return b.finish(applySteps(recipe, ctx.pool, ctx.extra, (step, src) => applyStep(ctx, step, src), log)).program;
  });
  return { program, inputs: data, description: log.join("\n") };
}

/**
 * Runs a recipe's steps over `pool` (each reads pool[a % n]; its result joins
 * the pool), logging each, and picks the outputs: the last result, one earlier
 * result when the recipe asks for two, then `extra` (index outputs).
 */
export function applySteps(
  recipe: Pick<Recipe, "steps" | "seed" | "outputs">,
  pool: Tensor[],
  extra: readonly Tensor[],
  apply: (step: Step, src: Tensor) => Tensor,
  log: string[],
): Tensor[] {
  for (const step of recipe.steps) {
    const src = pool[step.a % pool.length]!;
    const out = apply(step, src);
    log.push(
      `${step.kind}(a=${step.a}, b=${step.b}, c=${step.c}, ${step.flag}) on ${shapeToString(src.shape)} -> ${shapeToString(out.shape)}`,
    );
    pool.push(out);
  }
  const outs = [pool[pool.length - 1]!];
  if (recipe.outputs > 1 && pool.length > 2) outs.push(pool[1 + (recipe.seed % (pool.length - 2))]!);
  return [...outs, ...extra];
}

/** `x[..., start:limit, ...]` along one axis. */
export function sliceAxis(x: Tensor, axis: number, start: number, limit: Dim): Tensor {
  return ops.slice(
    x,
    x.shape.map((_, i) => (i === axis ? start : 0)),
    x.shape.map((d, i) => (i === axis ? limit : d)),
  );
}

/** Pad widths of 0..2 on each side of one axis (driven by `seed`), none elsewhere. */
export function padWidths(rank: number, axis: number, seed: number): [number, number][] {
  return Array.from({ length: rank }, (_, i): [number, number] => (i === axis ? [seed % 3, (seed >> 2) % 3] : [0, 0]));
}

/** A permutation of `rank` axes driven by `seed` (Fisher-Yates). */
export function randomPermutation(rank: number, seed: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  for (let i = rank - 1, s = seed; i > 0; i--, s = Math.floor(s / 3) + 7) {
    const j = s % (i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return perm;
}

interface BuildCtx {
  readonly b: TraceBuilder;
  readonly rng: () => number;
  readonly dtype: DType;
  readonly input: (value: Tensor) => Tensor;
  readonly pool: Tensor[];
  /** Float program inputs (what index ops read when `stable`). */
  readonly inputs: Tensor[];
  /** Extra (integer) outputs. */
  readonly extra: Tensor[];
  readonly maxElems: number;
  readonly stable: boolean;
}

/** Unary op families (also drawn by testing/symbolic_programs.ts). */
export const UNARY_OPS: readonly ((x: Tensor) => Tensor)[] = [
  ops.neg,
  ops.tanh,
  ops.sigmoid,
  ops.sin,
  ops.cos,
  ops.relu,
  ops.gelu,
  ops.silu,
  ops.abs,
  (x) => ops.exp(ops.tanh(x)),
  (x) => ops.log1p(ops.square(x)),
  (x) => ops.sqrt(ops.add(ops.square(x), 1)),
  (x) => ops.rsqrt(ops.add(ops.abs(x), 0.5)),
];

/** Binary op families. */
export const BINARY_OPS: readonly ((x: Tensor, y: Tensor) => Tensor)[] = [
  ops.add,
  ops.sub,
  ops.mul,
  ops.maximum,
  ops.minimum,
  (x, y) => ops.div(x, ops.add(ops.abs(y), 1)),
  (x, y) => ops.where(ops.greater(x, y), x, ops.mul(y, 0.5)),
];

/** Reductions over axes. */
export const REDUCE_OPS: readonly ((x: Tensor, axes: number[], keep: boolean) => Tensor)[] = [
  ops.sum,
  ops.mean,
  ops.max,
  ops.min,
  ops.logsumexp,
];

/** A reduction over the axes the bits of `s.b` pick (else axis `s.c`), keeping dims when `s.flag`. */
export function reduceStep(src: Tensor, s: Step): Tensor {
  const axes = src.shape.flatMap((_, i) => ((s.b >> i) & 1 ? [i] : []));
  const chosen = axes.length ? axes : [s.c % src.shape.length];
  return REDUCE_OPS[s.a % REDUCE_OPS.length]!(src, chosen, s.flag);
}

/** softmax (or logSoftmax when `s.flag`) along axis `s.c`. */
export function softmaxStep(src: Tensor, s: Step): Tensor {
  const x = atLeast1d(src, s.b);
  const axis = s.c % x.shape.length;
  return s.flag ? ops.logSoftmax(x, axis) : ops.softmax(x, axis);
}

/** A rank >= 1 view of `x` (scalars are broadcast to a small vector). */
export function atLeast1d(x: Tensor, n: number): Tensor {
  return x.shape.length === 0 ? ops.broadcastTo(x, [RANDOM_DIMS[n % RANDOM_DIMS.length]!]) : x;
}

function dims(x: Tensor): number[] {
  return x.shape as number[];
}

function applyStep(ctx: BuildCtx, s: Step, src: Tensor): Tensor {
  const { rng, dtype } = ctx;
  const fallback = () => UNARY_OPS[s.b % UNARY_OPS.length]!(src);
  const indexSource = (x: Tensor) => (ctx.stable ? fitTo(ctx.inputs[s.c % ctx.inputs.length]!, x) : x);
  switch (s.kind) {
    case "unary":
      return fallback();
    case "binaryNew": {
      const shape = dims(src);
      const drop = s.c % (shape.length + 1);
      const zShape = shape.slice(drop).map((d, i) => ((s.b >> i) & 1 ? 1 : d));
      const z = ctx.input(randomFloats(rng, dtype, zShape));
      const f = BINARY_OPS[s.a % BINARY_OPS.length]!;
      return s.flag ? f(z, src) : f(src, z);
    }
    case "binaryPool": {
      const other = ctx.pool[s.b % ctx.pool.length]!;
      try {
        const shape = broadcastShapes(src.shape, other.shape, "random program") as number[];
        if (numel(shape) > ctx.maxElems) return fallback();
      } catch {
        return fallback();
      }
      return BINARY_OPS[s.c % BINARY_OPS.length]!(src, other);
    }
    case "reduce":
      return src.shape.length === 0 ? fallback() : reduceStep(src, s);
    case "softmax":
      return softmaxStep(src, s);
    case "matmul": {
      const x = atLeast1d(src, s.b);
      const k = dims(x)[x.shape.length - 1]!;
      const n = RANDOM_DIMS[s.c % RANDOM_DIMS.length]!;
      if ((numel(dims(x)) / k) * n > ctx.maxElems) return fallback();
      const scale = 1 / Math.sqrt(k);
      const w = s.flag
        ? ops.transpose(ctx.input(randomFloats(rng, dtype, [n, k], scale)))
        : ctx.input(randomFloats(rng, dtype, [k, n], scale));
      return ops.matmul(x, w);
    }
    case "take": {
      const x = atLeast1d(src, s.b);
      const axis = s.c % x.shape.length;
      const count = 1 + (s.b % 7);
      const idxShape = s.flag ? [2, count] : [count];
      if ((numel(dims(x)) / dims(x)[axis]!) * numel(idxShape) > ctx.maxElems) return fallback();
      return ops.take(x, ctx.input(randomIndices(rng, idxShape, dims(x)[axis]!)), axis);
    }
    case "gather": {
      const x = atLeast1d(src, s.b);
      const axis = s.c % x.shape.length;
      const idxShape = dims(x).map((d, i) => (i === axis ? 1 + (s.b % 5) : d));
      if (numel(idxShape) > ctx.maxElems) return fallback();
      return ops.gather(x, ctx.input(randomIndices(rng, idxShape, dims(x)[axis]!)), axis);
    }
    case "scatterAdd": {
      const x = atLeast1d(src, s.b);
      const axis = s.c % x.shape.length;
      const len = dims(x)[axis]!;
      const count = 1 + (s.b % 9);
      const updShape = dims(x).map((d, i) => (i === axis ? count : d));
      if (numel(updShape) > ctx.maxElems) return fallback();
      const idx = ctx.input(randomIndices(rng, [count], len));
      return ops.scatterAdd(x, idx, ctx.input(randomFloats(rng, dtype, updShape)), axis);
    }
    case "cumsum": {
      const x = atLeast1d(src, s.b);
      return ops.cumsum(x, s.c % x.shape.length, s.flag);
    }
    case "topK": {
      const x = atLeast1d(src, s.b);
      const n = dims(x)[x.shape.length - 1]!;
      const [values, indices] = ops.topK(indexSource(x), 1 + (s.c % n));
      if (s.flag) ctx.extra.push(indices);
      return ctx.stable ? ops.gather(x, indices, x.shape.length - 1) : values;
    }
    case "sort": {
      const x = atLeast1d(src, s.b);
      const axis = s.c % x.shape.length;
      if (s.flag) {
        const order = ops.argsort(indexSource(x), axis, s.a % 2 === 0);
        ctx.extra.push(order);
        return ops.gather(x, order, axis);
      }
      return ctx.stable
        ? ops.gather(x, ops.argsort(indexSource(x), axis, s.a % 2 === 0), axis)
        : ops.sort(x, axis, s.a % 2 === 0);
    }
    case "argmax": {
      const x = atLeast1d(src, s.b);
      const axis = s.c % x.shape.length;
      const am = ops.argmax(indexSource(x), axis, true);
      ctx.extra.push(am);
      return ops.gather(x, am, axis);
    }
    case "move":
      return move(ctx, s, src);
    case "random": {
      const key = ctx.input(randomIndices(rng, [2], 2 ** 31 - 1));
      const noise = s.flag
        ? random.normal(key, src.shape, dtype)
        : random.uniform(key, src.shape, { dtype, minval: -1, maxval: 1 });
      return ops.add(src, ops.mul(noise, 0.1));
    }
  }
}

/** Index-op source when `stable`: an input resized (sliced/broadcast) to `x`'s shape. */
function fitTo(inp: Tensor, x: Tensor): Tensor {
  const want = dims(x);
  let t = atLeast1d(inp, 0);
  const have = dims(t);
  // Flatten, tile to cover numel(x), slice, reshape: a stable (input-only) tensor of x's shape.
  const n = numel(want);
  let flat = ops.reshape(t, [numel(have)]);
  const reps = Math.ceil(n / numel(have));
  if (reps > 1)
    flat = ops.reshape(ops.broadcastTo(ops.reshape(flat, [1, numel(have)]), [reps, numel(have)]), [reps * numel(have)]);
  // Tiled copies would tie; add a distinct ramp so every row has distinct values.
  const ramp = ops.mul(ops.cast(bind("iota", [], { shape: [n], axis: 0, dtype: "i32" }), flat.dtype), 1e-3);
  t = ops.add(ops.slice(flat, [0], [n]), ramp);
  return ops.reshape(t, want);
}

function move(ctx: BuildCtx, s: Step, src: Tensor): Tensor {
  const x = atLeast1d(src, s.b);
  const shape = dims(x);
  const r = shape.length;
  switch (s.a % 6) {
    case 0:
      return ops.transpose(x, randomPermutation(r, s.b));
    case 1:
      return s.flag || r < 2
        ? ops.reshape(x, [numel(shape)])
        : ops.reshape(x, [...shape.slice(0, -2), shape[r - 2]! * shape[r - 1]!]);
    case 2: {
      const axis = s.c % r;
      const d = shape[axis]!;
      const start = d > 1 ? s.b % d : 0;
      const limit = start + 1 + ((s.b >> 3) % (d - start));
      return sliceAxis(x, axis, start, limit);
    }
    case 3: {
      const axis = s.c % r;
      const widths = padWidths(r, axis, s.b);
      if (numel(shape.map((d, i) => d + widths[i]![0] + widths[i]![1])) > ctx.maxElems) return ops.neg(x);
      return ops.pad(x, widths, s.flag ? 0 : 0.5);
    }
    case 4: {
      const axis = s.c % r;
      const extra = ctx.input(
        randomFloats(
          ctx.rng,
          ctx.dtype,
          shape.map((d, i) => (i === axis ? 1 + (s.b % 3) : d)),
        ),
      );
      if (numel(shape) * 2 + numel(dims(extra)) > ctx.maxElems) return ops.neg(x);
      return ops.concat(s.flag ? [x, extra, x] : [extra, x], axis);
    }
    default: {
      if (numel(shape) * 3 > ctx.maxElems) return ops.neg(x);
      return ops.broadcastTo(ops.expandDims(x, 0), [3, ...shape]);
    }
  }
}

/** The reverse-mode gradient program of a case, with random cotangents for its outputs. */
export function gradientCase(c: RandomCase, seed = 1): RandomCase {
  const rng = mulberry32(seed);
  const program = vjpProgram(c.program);
  const cts = c.program.outputs.map((v) =>
    isFloat(v.dtype) ? randomFloats(rng, v.dtype, v.shape as number[]) : randomIndices(rng, v.shape as number[], 2),
  );
  return { program, inputs: [...c.inputs, ...cts], description: `gradient of:\n${c.description}` };
}

/** Runs a Program on some backend; may return device tensors (read with `data()`). */
export type ProgramRunner = (
  program: Program,
  inputs: readonly Tensor[],
) => readonly Tensor[] | Promise<readonly Tensor[]>;

/** Per-output comparison of a backend with the interpreter. */
export interface Comparison {
  /** Relative error in 2-norm per output (integers/bools: 0 when equal, Infinity otherwise). */
  readonly errors: readonly number[];
}

/**
 * Below this RMS magnitude an output is "zero up to rounding": gradients that
 * cancel exactly in real arithmetic (e.g. of a softmax's sum) come out as
 * +-1e-8 noise whose relative error means nothing.
 */
export const NOISE_FLOOR = 1e-3;

/**
 * Relative error of `got` against `want` in 2-norm:
 * ||got - want|| / max(||want||, NOISE_FLOOR * sqrt(n)). NaNs must agree in position.
 */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>, floor = NOISE_FLOOR): number {
  if (got.length !== want.length) return Infinity;
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < want.length; i++) {
    const a = got[i]!;
    const b = want[i]!;
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (Number.isNaN(a) !== Number.isNaN(b)) return Infinity;
      continue;
    }
    if (!Number.isFinite(a) || !Number.isFinite(b)) {
      if (a !== b) return Infinity;
      continue;
    }
    diff += (a - b) * (a - b);
    norm += b * b;
  }
  return Math.sqrt(diff / Math.max(norm, floor * floor * want.length));
}

/**
 * Runs `program` with `runner` and with the interpreter and compares every
 * output: float outputs must agree to `rtol` in relative 2-norm error,
 * integer and bool outputs exactly. Throws a descriptive error on mismatch.
 */
export async function runAndCompare(
  runner: ProgramRunner,
  program: Program,
  inputs: readonly Tensor[],
  rtol = 1e-4,
): Promise<Comparison> {
  const want = evalProgram(program, inputs);
  const got = await runner(program, inputs);
  return compareOutputs(got, want, rtol, String(program));
}

/**
 * Compares outputs `got` with `want` (the interpreter's): same count, dtypes
 * and shapes; floats to `rtol` in relative 2-norm error, integers and bools
 * exactly. Throws naming the output and ending with `context` on mismatch.
 */
export async function compareOutputs(
  got: readonly Tensor[],
  want: readonly Tensor[],
  rtol: number,
  context: string,
): Promise<Comparison> {
  if (got.length !== want.length)
    throw new Error(`backend returned ${got.length} outputs, expected ${want.length}\n${context}`);
  const errors: number[] = [];
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (g.dtype !== w.dtype || g.shape.length !== w.shape.length || g.shape.some((d, j) => d !== w.shape[j])) {
      throw new Error(
        `output ${i}: backend gave ${g.dtype}${shapeToString(g.shape)}, expected ${w.dtype}${shapeToString(w.shape)}\n${context}`,
      );
    }
    const gd = await g.data();
    const wd = w.dataSync();
    let err: number;
    if (isFloat(w.dtype)) err = relativeError(gd, wd);
    else {
      const bad = wd.findIndex((x, j) => x !== gd[j]);
      err = bad < 0 ? 0 : Infinity;
      if (bad >= 0) {
        throw new Error(
          `output ${i} (${w.dtype}${shapeToString(w.shape)}) differs at flat index ${bad}: got ${gd[bad]}, expected ${wd[bad]}\n${context}`,
        );
      }
    }
    errors.push(err);
    if (!(err <= rtol)) {
      throw new Error(
        `output ${i} (${w.dtype}${shapeToString(w.shape)}) relative error ${err.toExponential(3)} > rtol ${rtol}\n${context}`,
      );
    }
  }
  return { errors };
}
