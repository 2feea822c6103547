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
import { checkNumericsMode, checkOutputs, type CheckNumericsMode } from "../dsl/checked_numerics";
import { evalProgram, withCallSite } from "../dsl/trace";
import { getBackend, type BackendName } from "./registry";

export interface JitOptions {
  /** Backend to run on; default: the best available (see `setBackend`). */
  backend?: BackendName;
  /**
   * Checked numerics (like JAX's `debug_nans`): `true` or `"nan"` fails when an output holds a NaN,
   * `"nonfinite"` also on ±Inf, with a `NumericsError` naming the first equation that created
   * the value, its op and your file:line (found by re-running on the interpreter). Costs one
   * scan of the outputs per call. Device outputs (webgpu) are checked when read: `await
   * y.data()` rejects. Default off.
   * @example jit(loss, { checkNumerics: true })(params, batch) // NumericsError: ... = log(...) produced NaN ... at model.ts:12:5
   */
  checkNumerics?: boolean | CheckNumericsMode;
  /**
   * Run-time checks of data-dependent indices (take, scatterAdd, bincount, ...)
   * and raggedMatmul group sizes: on by default on every backend, so a bad index
   * throws like the interpreter. `false` turns them off for speed; bad indices
   * are then clamped or skipped (never read out of bounds).
   * @example jit(f, { backend: "webgpu", checks: false })
   */
  checks?: boolean;
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
  const checkMode = checkNumericsMode(options.checkNumerics);
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
    if (inputs.some((t) => t.isTracer)) return unflatten(program.outTree!, evalProgram(program, inputs));
    try {
      const backend = getBackend(options.backend);
      const outs = backend.run(program, inputs, options.checks === false ? { checks: false } : {});
      const checked = checkMode ? checkOutputs(program, inputs, outs, checkMode, backend.name) : outs;
      return unflatten(program.outTree!, checked);
    } catch (e) {
      return withCallSite(e); // run-time errors (an index out of range) name the call of the jitted function
    }
  };
  const f = run as unknown as JitFunction<F>;
  Object.defineProperty(f, "program", { value: (...args: unknown[]) => lookup(args).program });
  Object.defineProperty(f, "cacheSize", { get: () => cache.size });
  return f;
}
