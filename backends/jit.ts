/**
 * `jit`: trace once per input signature, run on a backend. It sits above the
 * backends (it picks one from the registry), so the core (dsl/, autodiff/)
 * never imports a backend.
 */
import { traceFlatTree } from "../dsl/api";
import type { Program } from "../dsl/program";
import { flatten, treeDefKey, unflatten } from "../dsl/pytree";
import { shapeToString } from "../dsl/shape";
import type { Tensor } from "../dsl/tensor";
import { evalProgram } from "../dsl/trace";
import { getBackend, type BackendName } from "./registry";

export interface JitOptions {
  /** Backend to run on; default: the best available (see `setBackend`). */
  backend?: BackendName;
}

/** A jitted function, with access to its traced programs. */
export interface JitFunction<F extends (...args: never[]) => unknown> {
  (...args: Parameters<F>): ReturnType<F>;
  /** The program traced for these arguments (cached per signature). */
  program(...args: Parameters<F>): Program;
  /** Number of distinct signatures traced so far. */
  readonly cacheSize: number;
}

/**
 * Traces `fn` once per input signature (tree structure, shapes, dtypes) and
 * runs the program on a backend. Inside another trace (grad of jit), the
 * program is inlined so it can be differentiated.
 */
export function jit<F extends (...args: never[]) => unknown>(fn: F, options: JitOptions = {}): JitFunction<F> {
  const cache = new Map<string, Program>();
  const lookup = (args: unknown[]): { program: Program; leaves: Tensor[]; captures: Tensor[] } => {
    const [leaves, inTree] = flatten<Tensor>(args, undefined, "args");
    const key = treeDefKey(inTree) + "|" + leaves.map((l) => `${l.dtype}${shapeToString(l.shape)}`).join(";");
    const hit = cache.get(key);
    if (hit) return { program: hit, leaves, captures: [] };
    const { program, captures } = traceFlatTree(fn, leaves, inTree);
    if (captures.length === 0) cache.set(key, program);
    return { program, leaves, captures };
  };
  const run = (...args: unknown[]) => {
    const { program, leaves, captures } = lookup(args);
    const inputs = [...leaves, ...captures];
    const outs = inputs.some((t) => t.isTracer)
      ? evalProgram(program, inputs)
      : getBackend(options.backend).run(program, inputs);
    return unflatten(program.outTree!, outs);
  };
  const f = run as unknown as JitFunction<F>;
  Object.defineProperty(f, "program", { value: (...args: unknown[]) => lookup(args).program });
  Object.defineProperty(f, "cacheSize", { get: () => cache.size });
  return f;
}
