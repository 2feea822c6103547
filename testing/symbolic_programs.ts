/**
 * Random programs over named dims, for shape-polymorphism tests: one recipe
 * traced once with named dims (`T`, `U` on some axes of the first input; the
 * shapes downstream become expressions: `T*3` from `reshape(x, [-1])`,
 * `T+3` from pad, `ceilDiv(T,2)` from slices, `T*2` from concat) and traced
 * again with every name replaced by a size. At a binding both programs take
 * the same inputs and must give the same outputs, forward and gradient.
 *
 * The op families are those of `random_programs.ts` (elementwise, broadcasts,
 * reductions, softmax, matmul, take/gather/scatterAdd with index inputs
 * bounded by a symbolic axis, cumsum, topK, sort/argsort/argmax, movement ops,
 * random bits). Every choice that depends on a shape (does a broadcast fit,
 * is a slice start provably in range, does a size stay small) is decided on
 * the symbolic trace and replayed by the concrete one, so the two traces
 * describe one program.
 *
 * @example
 * const c = symbolicCase(recipe);              // c.symbolic: f32[T,3] -> f32[T*3]
 * const env = new Map([["T", 5]]);
 * const inputs = c.inputs(env, 1);             // shapes [5,3], ...
 * evalProgram(c.concrete(env), inputs);        // equals any backend running c.symbolic on inputs
 */
import fc from "fast-check";
import { vjpProgram } from "../autodiff/vjp";
import { dimAdd, dimBounds, dimCeilDiv, dimMul, evalDim, provablyGe, type Dim, type DimEnv } from "../dsl/dims";
import { isFloat, type DType } from "../dsl/dtype";
import * as ops from "../dsl/ops";
import type { Aval, Program } from "../dsl/program";
import * as random from "../dsl/random";
import { broadcastShapes, numelDim, resolveShape } from "../dsl/shape";
import type { Tensor } from "../dsl/tensor";
import { withNewTrace, type TraceBuilder } from "../dsl/trace";
import {
  BINARY_OPS,
  RANDOM_DIMS,
  UNARY_OPS,
  atLeast1d,
  applySteps,
  mulberry32,
  randomFloats,
  randomIndices,
  padWidths,
  randomPermutation,
  reduceStep,
  softmaxStep,
  sliceAxis,
  stepArb,
  type Step,
  type StepKind,
  STEP_KINDS,
} from "./random_programs";

/** The dim names a recipe may put on the first input's axes. */
export const DIM_NAMES = ["T", "U"] as const;
export type DimName = (typeof DIM_NAMES)[number];

/** Largest size a name is bound to (sizes are decided against it). */
export const MAX_BOUND_SIZE = 12;

/** A recipe: the first input's axes (sizes or names), the steps, a seed. */
export interface SymbolicRecipe {
  readonly shape: readonly (number | DimName)[];
  readonly steps: readonly Step[];
  readonly seed: number;
  readonly outputs: number;
}

/** What one program input holds, in the symbolic trace's dims (evaluated at a binding to make data). */
interface InputSpec {
  readonly dtype: DType;
  readonly shape: readonly Dim[];
  /** floats: random in ±[0.25, 1.25] * 1/sqrt(scaleBy); index: random in [0, bound); key: a PRNG key. */
  readonly kind: "float" | "index" | "key";
  readonly bound?: Dim;
  readonly scaleBy?: Dim;
}

/** One recipe as a program over named dims and as programs at concrete sizes. */
export interface SymbolicCase {
  /** Traced once, with the named dims. */
  readonly symbolic: Program;
  /** The recipe traced with each name replaced by its size in `env`. */
  concrete(env: DimEnv): Program;
  /** Random inputs (never zero) for a binding, the same for both programs. */
  inputs(env: DimEnv, seed: number): Tensor[];
  /** The recipe and the symbolic shapes, as text (printed when a comparison fails). */
  readonly description: string;
  /** The names the program reads. */
  readonly names: readonly DimName[];
}

const axisArb = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom<number | DimName>(...RANDOM_DIMS) },
  { weight: 3, arbitrary: fc.constantFrom<number | DimName>(...DIM_NAMES) },
);

/** Op families drawn, movement ops (where expressions come from) four times as often as the others. */
const SYMBOLIC_STEP_KINDS: readonly StepKind[] = [...STEP_KINDS, "move", "move", "move"];

/** Recipes whose first input has at least one named axis. */
export function symbolicRecipeArb(
  options: { maxSteps?: number; kinds?: readonly StepKind[] } = {},
): fc.Arbitrary<SymbolicRecipe> {
  return fc.record({
    shape: fc.array(axisArb, { minLength: 1, maxLength: 3 }).filter((s) => s.some((d) => typeof d === "string")),
    steps: fc.array(stepArb(options.kinds ?? SYMBOLIC_STEP_KINDS), { minLength: 2, maxLength: options.maxSteps ?? 5 }),
    seed: fc.nat(),
    outputs: fc.integer({ min: 1, max: 2 }),
  });
}

/** Bindings of a recipe's names: `count` random sizes in [1, MAX_BOUND_SIZE], the first binding puts every name at 1. */
export function bindingsArb(count = 3): fc.Arbitrary<DimEnv[]> {
  const one = fc.tuple(...DIM_NAMES.map(() => fc.integer({ min: 1, max: MAX_BOUND_SIZE })));
  return fc
    .array(one, { minLength: count - 1, maxLength: count - 1 })
    .map((rest) => [DIM_NAMES.map(() => 1), ...rest].map((sizes) => new Map(DIM_NAMES.map((n, i) => [n, sizes[i]!]))));
}

/** Traces a recipe with named dims, and describes how to trace it at sizes and make its inputs. */
export function symbolicCase(recipe: SymbolicRecipe): SymbolicCase {
  const decisions: (number | boolean)[] = [];
  const sym = build(recipe, (d) => d, { record: decisions });
  const names = DIM_NAMES.filter((n) => recipe.shape.includes(n));
  return {
    symbolic: sym.program,
    names,
    description: sym.log.join("\n"),
    concrete(env) {
      const c = build(recipe, (d) => (typeof d === "string" ? env.get(d)! : d), { replay: decisions });
      return c.program;
    },
    inputs(env, seed) {
      const rng = mulberry32(seed);
      return sym.specs.map((s) => makeInput(rng, s, env));
    },
  };
}

/** The reverse-mode gradient of both programs of a case, with random cotangents (the same for both). */
export function symbolicGradientCase(c: SymbolicCase): SymbolicCase {
  const symbolic = vjpProgram(c.symbolic);
  return {
    symbolic,
    names: c.names,
    description: `gradient of:\n${c.description}`,
    concrete: (env) => vjpProgram(c.concrete(env)),
    inputs(env, seed) {
      const rng = mulberry32(seed + 1);
      const cts = c.symbolic.outputs.map((v) => {
        const shape = resolveShape(v.shape, env);
        return isFloat(v.dtype) ? randomFloats(rng, v.dtype, shape) : randomIndices(rng, shape, 2);
      });
      return [...c.inputs(env, seed), ...cts];
    },
  };
}

function makeInput(rng: () => number, s: InputSpec, env: DimEnv): Tensor {
  const shape = resolveShape(s.shape, env);
  if (s.kind === "key") return randomIndices(rng, shape, 2 ** 31 - 1);
  if (s.kind === "index") return randomIndices(rng, shape, evalDim(s.bound!, env));
  const scale = s.scaleBy === undefined ? 1 : 1 / Math.sqrt(evalDim(s.scaleBy, env));
  return randomFloats(rng, s.dtype, shape, scale);
}

// ---------------------------------------------------------------- building

/** Shape-dependent choices: computed on the symbolic trace, replayed by the concrete ones. */
type Decisions = { record: (number | boolean)[] } | { replay: readonly (number | boolean)[] };

interface BuildCtx {
  readonly b: TraceBuilder;
  readonly pool: Tensor[];
  readonly extra: Tensor[];
  readonly specs: InputSpec[];
  /** The choice `f` makes on the symbolic trace (replayed in order on the concrete ones). */
  readonly decide: <V extends number | boolean>(f: () => V) => V;
  readonly input: (s: InputSpec) => Tensor;
}

/** Sizes that stay below this at the largest binding keep the programs fast (WebGPU runs them on SwiftShader). */
const MAX_ELEMENTS = 4000;
const atLargest = (shape: readonly Dim[]): number =>
  evalDim(numelDim(shape), new Map(DIM_NAMES.map((n) => [n, MAX_BOUND_SIZE])));

function build(
  recipe: SymbolicRecipe,
  size: (d: number | DimName) => Dim,
  decisions: Decisions,
): { program: Program; specs: InputSpec[]; log: string[] } {
  let next = 0;
  const decide = <V extends number | boolean>(f: () => V): V => {
    if ("record" in decisions) {
      const v = f();
      decisions.record.push(v);
      return v;
    }
    if (next >= decisions.replay.length)
      throw new Error("internal: the concrete trace made more choices than the symbolic one");
    return decisions.replay[next++] as V;
  };
  const specs: InputSpec[] = [];
  const log: string[] = [`shape [${recipe.shape.join(",")}] seed ${recipe.seed}`];
  const program = withNewTrace((b) => {
    const input = (s: InputSpec): Tensor => {
      specs.push(s);
      return b.addInput({ shape: s.shape, dtype: s.dtype } as Aval);
    };
    const x0 = input({ dtype: "f32", shape: recipe.shape.map(size), kind: "float" });
    const ctx: BuildCtx = { b, pool: [x0], extra: [], specs, decide, input };
    return b.finish(applySteps(recipe, ctx.pool, ctx.extra, (step, src) => applyStep(ctx, step, src), log)).program;
  });
  if ("replay" in decisions && next !== decisions.replay.length)
    throw new Error("internal: the concrete trace made fewer choices than the symbolic one");
  return { program, specs, log };
}

/** A fresh float input of x's shape: what index ops rank (its values never tie or differ by backend). */
function rankSource(ctx: BuildCtx, x: Tensor): Tensor {
  return ctx.input({ dtype: "f32", shape: x.shape, kind: "float" });
}

function applyStep(ctx: BuildCtx, s: Step, src: Tensor): Tensor {
  const fallback = () => UNARY_OPS[s.b % UNARY_OPS.length]!(src);
  const small = (shape: readonly Dim[]) => ctx.decide(() => atLargest(shape) <= MAX_ELEMENTS);
  switch (s.kind) {
    case "unary":
      return fallback();
    case "binaryNew": {
      const drop = s.c % (src.shape.length + 1);
      const zShape = src.shape.slice(drop).map((d, i) => ((s.b >> i) & 1 ? 1 : d));
      const z = ctx.input({ dtype: "f32", shape: zShape, kind: "float" });
      const f = BINARY_OPS[s.a % BINARY_OPS.length]!;
      return s.flag ? f(z, src) : f(src, z);
    }
    case "binaryPool": {
      const other = ctx.pool[s.b % ctx.pool.length]!;
      const fits = ctx.decide(() => {
        try {
          return atLargest(broadcastShapes(src.shape, other.shape, "random program")) <= MAX_ELEMENTS;
        } catch {
          return false; // not broadcast-compatible for every binding
        }
      });
      return fits ? BINARY_OPS[s.c % BINARY_OPS.length]!(src, other) : fallback();
    }
    case "reduce":
      return src.shape.length === 0 ? fallback() : reduceStep(src, s);
    case "softmax":
      return softmaxStep(src, s);
    case "matmul": {
      const x = atLeast1d(src, s.b);
      const k = x.shape[x.shape.length - 1]!;
      const n = RANDOM_DIMS[s.c % RANDOM_DIMS.length]!;
      if (!small([...x.shape.slice(0, -1), n])) return fallback();
      const w = s.flag
        ? ops.transpose(ctx.input({ dtype: "f32", shape: [n, k], kind: "float", scaleBy: k }))
        : ctx.input({ dtype: "f32", shape: [k, n], kind: "float", scaleBy: k });
      return ops.matmul(x, w);
    }
    case "take": {
      const x = atLeast1d(src, s.b);
      const axis = s.c % x.shape.length;
      const idxShape = s.flag ? [2, 1 + (s.b % 7)] : [1 + (s.b % 7)];
      if (!small([...x.shape.filter((_, i) => i !== axis), ...idxShape])) return fallback();
      return ops.take(x, ctx.input({ dtype: "i32", shape: idxShape, kind: "index", bound: x.shape[axis]! }), axis);
    }
    case "gather": {
      const x = atLeast1d(src, s.b);
      const axis = s.c % x.shape.length;
      const idxShape = x.shape.map((d, i) => (i === axis ? 1 + (s.b % 5) : d));
      if (!small(idxShape)) return fallback();
      return ops.gather(x, ctx.input({ dtype: "i32", shape: idxShape, kind: "index", bound: x.shape[axis]! }), axis);
    }
    case "scatterAdd": {
      const x = atLeast1d(src, s.b);
      const axis = s.c % x.shape.length;
      const count = 1 + (s.b % 9);
      const updShape = x.shape.map((d, i) => (i === axis ? count : d));
      if (!small(updShape)) return fallback();
      const idx = ctx.input({ dtype: "i32", shape: [count], kind: "index", bound: x.shape[axis]! });
      return ops.scatterAdd(x, idx, ctx.input({ dtype: "f32", shape: updShape, kind: "float" }), axis);
    }
    case "cumsum": {
      const x = atLeast1d(src, s.b);
      return ops.cumsum(x, s.c % x.shape.length, s.flag);
    }
    case "topK": {
      const x = atLeast1d(src, s.b);
      const n = x.shape[x.shape.length - 1]!;
      // k must fit every binding: at most the smallest size the last axis can have
      const k = ctx.decide(() => 1 + (s.c % dimBounds(n).lo));
      const [values, indices] = ops.topK(rankSource(ctx, x), k);
      if (s.flag) ctx.extra.push(indices);
      return ops.add(values, ops.gather(x, indices, x.shape.length - 1));
    }
    case "sort": {
      const x = atLeast1d(src, s.b);
      const axis = s.c % x.shape.length;
      const order = ops.argsort(rankSource(ctx, x), axis, s.a % 2 === 0);
      if (s.flag) ctx.extra.push(order);
      return ops.gather(x, order, axis);
    }
    case "argmax": {
      const x = atLeast1d(src, s.b);
      const axis = s.c % x.shape.length;
      const am = ops.argmax(rankSource(ctx, x), axis, true);
      ctx.extra.push(am);
      return ops.gather(x, am, axis);
    }
    case "move":
      return move(ctx, s, src, small);
    case "random": {
      const key = ctx.input({ dtype: "i32", shape: [2], kind: "key" });
      const noise = s.flag
        ? random.normal(key, src.shape, "f32")
        : random.uniform(key, src.shape, { dtype: "f32", minval: -1, maxval: 1 });
      return ops.add(src, ops.mul(noise, 0.1));
    }
  }
}

function move(ctx: BuildCtx, s: Step, src: Tensor, small: (shape: readonly Dim[]) => boolean): Tensor {
  const x = atLeast1d(src, s.b);
  const shape = x.shape;
  const r = shape.length;
  switch (s.a % 7) {
    case 0:
      return ops.transpose(x, randomPermutation(r, s.b));
    case 1: // flatten (-1 inferred as an expression) or merge the last two axes
      return s.flag || r < 2
        ? ops.reshape(x, [-1])
        : ops.reshape(x, [...shape.slice(0, -2), dimMul(shape[r - 2]!, shape[r - 1]!)]);
    case 2: {
      // [1, d) when d >= 2 for every binding, else [0, ceilDiv(d, 2))
      const axis = s.c % r;
      const d = shape[axis]!;
      const fromOne = ctx.decide(() => s.flag && provablyGe(d, 2));
      const start = fromOne ? 1 : 0;
      const limit = fromOne ? d : dimCeilDiv(d, 2);
      return sliceAxis(x, axis, start, limit);
    }
    case 3: {
      const axis = s.c % r;
      const widths = padWidths(r, axis, s.b);
      if (!small(shape.map((d, i) => (i === axis ? dimAdd(d, widths[i]![0] + widths[i]![1]) : d)))) return ops.neg(x);
      return ops.pad(x, widths, s.flag ? 0 : 0.5);
    }
    case 4: {
      const axis = s.c % r;
      const extraShape = shape.map((d, i) => (i === axis ? 1 + (s.b % 3) : d));
      if (!small([...shape, 3])) return ops.neg(x);
      const extra = ctx.input({ dtype: "f32", shape: extraShape, kind: "float" });
      return ops.concat(s.flag ? [x, extra, x] : [extra, x], axis);
    }
    case 5: {
      // regroup: [d0*d1, ...rest] then back to [d0, -1, ...rest] (-1 = d0*d1 / d0 as an expression)
      if (r < 2) return ops.neg(x);
      const rest = shape.slice(2);
      const merged = ops.reshape(x, [dimMul(shape[0]!, shape[1]!), ...rest]);
      return ops.reshape(merged, [shape[0]!, -1, ...rest]);
    }
    default: {
      if (!small([...shape, 3])) return ops.neg(x);
      return ops.broadcastTo(ops.expandDims(x, 0), [3, ...shape]);
    }
  }
}
