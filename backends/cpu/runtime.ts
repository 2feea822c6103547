/**
 * Runs a JS-target KernelBundle over typed arrays (wasm-target bundles go to wasm_runtime.ts): allocates the bundle's
 * buffers for the bound dims (kept for the next run with the same dims),
 * runs the launch schedule, returns copies of the outputs. Launches with
 * enough work are split by workgroups across a pool of worker threads over
 * shared memory (see pool.ts). Needs nothing from moeforge but the bundle.
 */
import { allocArray, type AnyTypedArray } from "../../dsl/dtype";
import {
  evalSize,
  type Kernel,
  type KernelBundle,
  type Launch,
  type ScalarType,
  type Stmt,
} from "../../codegen/kernel_ir";
import { workerPool, type WorkerPool } from "./pool";
import { MAX_I32_ELEMENTS, bindBufferSizes } from "../../codegen/bind_sizes";
import { runWasmBundle } from "./wasm_runtime";

/** A compiled kernel: runs workgroups [first, last) of `numGroups`. */
export type KernelFn = (
  buffers: AnyTypedArray[],
  sizes: readonly number[],
  numGroups: number,
  first?: number,
  last?: number,
) => void;

interface Prepared {
  readonly fns: Map<string, KernelFn>;
  readonly kernels: Map<string, Kernel & { readonly source: string }>;
  /** Buffers by dims, reused across runs (kernels overwrite everything they read back). */
  readonly arenas: Map<string, Map<string, AnyTypedArray>>;
}

const prepared = new WeakMap<KernelBundle, Prepared>();

function prepare(bundle: KernelBundle): Prepared {
  let p = prepared.get(bundle);
  if (!p) {
    if (bundle.target !== "js")
      throw new Error(`cpu runtime: bundle was compiled for target "${bundle.target}", expected "js" or "wasm"`);
    p = { fns: new Map(), kernels: new Map(), arenas: new Map() };
    for (const k of bundle.kernels) {
      p.fns.set(k.name, new Function(`return ${k.source}`)() as KernelFn);
      p.kernels.set(k.name, k);
    }
    prepared.set(bundle, p);
  }
  return p;
}

/** A zeroed typed array for `n` elements of `t` (f16 is held as f32, bool as u8, u32 as i32 bits), optionally shared. */
export function allocFor(t: ScalarType, n: number, shared = false): AnyTypedArray {
  const plain = allocArray(t === "u32" ? "i32" : t, n);
  if (!shared) return plain;
  const ctor = plain.constructor as new (b: SharedArrayBuffer) => AnyTypedArray;
  return new ctor(new SharedArrayBuffer(plain.byteLength));
}

function hasLoop(ss: readonly Stmt[]): boolean {
  return ss.some((s) => s.kind === "for" || (s.kind === "if" && (hasLoop(s.then) || hasLoop(s.else ?? []))));
}

/** Whether a launch is worth splitting across threads (a wake-up costs tens of microseconds). */
export function worthSplitting(k: Kernel, groups: number): boolean {
  const threads = groups * k.workgroupSize;
  return groups > 1 && (threads >= 16384 || (hasLoop(k.body) && threads >= 64));
}

/** Workgroups per claimed chunk: about 8 chunks per thread, so a slowed thread holds little back. */
export function chunkSize(groups: number, threads: number): number {
  return Math.max(1, Math.ceil(groups / (threads * 8)));
}

/**
 * Executes `bundle` on host arrays. `inputs` follow `bundle.inputs`; `dims`
 * binds the bundle's named dims. Returns one fresh array per `bundle.outputs`.
 * Fails like the interpreter when a kernel reports a bad index (bundle.checks).
 * @example const [y] = runBundle(compile(p, { target: "js" }), [x], new Map([["N", 8]]));
 */
export function runBundle(
  bundle: KernelBundle,
  inputs: readonly AnyTypedArray[],
  dims: ReadonlyMap<string, number>,
  /** Called after each launch with its wall time (profiling). */
  observe?: (launch: Launch, kernel: Kernel, ms: number) => void,
): AnyTypedArray[] {
  if (bundle.target === "wasm") return runWasmBundle(bundle, inputs, dims, observe);
  const p = prepare(bundle);
  if (inputs.length !== bundle.inputs.length)
    throw new Error(`cpu runtime: expected ${bundle.inputs.length} inputs, got ${inputs.length}`);
  const pool: WorkerPool | null = workerPool();
  const shared = pool !== null;
  const key = [...dims].map(([k, v]) => `${k}=${v}`).join(",");
  let arrays = p.arenas.get(key);
  if (!arrays) {
    arrays = new Map();
    const sizes = bindBufferSizes(bundle, dims, MAX_I32_ELEMENTS, "cpu runtime"); // once per new binding
    for (const b of bundle.buffers) {
      const a = allocFor(b.type, sizes.get(b.name)!, shared);
      if (b.init) a.set(b.init);
      arrays.set(b.name, a);
    }
    if (p.arenas.size > 4) p.arenas.clear();
    p.arenas.set(key, arrays);
  }
  copyInputs(bundle, inputs, arrays);
  for (const launch of bundle.schedule) {
    const groups = evalSize(launch.grid, dims);
    if (groups <= 0) continue;
    const kernel = p.kernels.get(launch.kernel)!;
    const fn = p.fns.get(launch.kernel)!;
    const buffers = kernel.params.map((q) => arrays!.get(launch.bindings[q.name]!)!);
    const sizes = kernel.sizes.map((s) => evalSize(s, dims));
    const t0 = observe ? performance.now() : 0;
    if (pool && worthSplitting(kernel, groups)) {
      const task = {
        source: kernel.source,
        buffers,
        sizes,
        numGroups: groups,
        chunk: chunkSize(groups, pool.size + 1),
      };
      pool.run(task, (first, last) => fn(buffers, sizes, groups, first, last));
    } else fn(buffers, sizes, groups);
    observe?.(launch, kernel, performance.now() - t0);
  }
  raiseIndexCheck(bundle, arrays);
  return copyOutputs(bundle, arrays);
}

/** Copies the inputs into the arena's input buffers, checking their lengths. */
export function copyInputs(
  bundle: KernelBundle,
  inputs: readonly AnyTypedArray[],
  arrays: ReadonlyMap<string, AnyTypedArray>,
): void {
  bundle.inputs.forEach((name, i) => {
    const dst = arrays.get(name)!;
    if (dst.length !== inputs[i]!.length)
      throw new Error(`cpu runtime: input ${i} has ${inputs[i]!.length} elements, expected ${dst.length}`);
    dst.set(inputs[i]!);
  });
}

/** Fails like the interpreter when a kernel reported a bad index (bundle.checks). */
export function raiseIndexCheck(bundle: KernelBundle, arrays: ReadonlyMap<string, AnyTypedArray>): void {
  if (!bundle.checks) return;
  const flag = arrays.get(bundle.checks.buffer)!;
  if (flag[0]) {
    const message = bundle.checks.messages[flag[0] - 1] ?? "an index is out of range";
    throw new RangeError(message.replaceAll("{index}", String(flag[1])).replaceAll("{size}", String(flag[2])));
  }
}

/** Copies of the outputs: the arena is reused by the next run, and callers get ordinary (unshared) arrays. */
export function copyOutputs(bundle: KernelBundle, arrays: ReadonlyMap<string, AnyTypedArray>): AnyTypedArray[] {
  return bundle.outputs.map((name) => {
    const a = arrays.get(name)!;
    const out = allocFor(bundle.buffers.find((b) => b.name === name)!.type, a.length);
    out.set(a);
    return out;
  });
}
