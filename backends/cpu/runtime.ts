/**
 * Runs a JS-target KernelBundle over typed arrays (wasm-target bundles go to
 * wasm_runtime.ts): takes the bundle's buffers for the bound dims from the
 * arena cache (arenas.ts: kept for the next run with the same dims, under a
 * byte budget shared by all bundles), runs the launch schedule, returns
 * copies of the outputs. Launches with enough work are split by workgroups
 * across a pool of worker threads over shared memory (see pool.ts). Needs
 * nothing from moeforge but the bundle.
 */
import type { AnyTypedArray } from "../../dsl/dtype";
import { evalSize, type Kernel, type KernelBundle } from "../../codegen/kernel_ir";
import { MAX_I32_ELEMENTS, bindBufferSizes } from "../../codegen/bind_sizes";
import { arenaFor } from "./arenas";
import {
  chunkSize,
  copyInputs,
  copyOutputs,
  processCpuMs,
  raiseIndexCheck,
  worthSplitting,
  type KernelFn,
  type LaunchObserver,
} from "./host_arrays";
import { workerPool, type WorkerPool } from "./pool";
import { runWasmBundle } from "./wasm_runtime";

export { cpuMemoryStats, setCpuMemoryBudget, clearCpuMemory } from "./arenas";

interface Prepared {
  readonly fns: Map<string, KernelFn>;
  readonly kernels: Map<string, Kernel & { readonly source: string }>;
}

const prepared = new WeakMap<KernelBundle, Prepared>();

function prepare(bundle: KernelBundle): Prepared {
  let p = prepared.get(bundle);
  if (!p) {
    if (bundle.target !== "js")
      throw new Error(`cpu runtime: bundle was compiled for target "${bundle.target}", expected "js" or "wasm"`);
    p = { fns: new Map(), kernels: new Map() };
    for (const k of bundle.kernels) {
      p.fns.set(k.name, new Function(`return ${k.source}`)() as KernelFn);
      p.kernels.set(k.name, k);
    }
    prepared.set(bundle, p);
  }
  return p;
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
  observe?: LaunchObserver,
): AnyTypedArray[] {
  if (bundle.target === "wasm") return runWasmBundle(bundle, inputs, dims, observe);
  const p = prepare(bundle);
  const pool: WorkerPool | null = workerPool();
  const arrays = arenaFor(bundle, dims, pool ? "shared" : "array", () => {
    const sizes = bindBufferSizes(bundle, dims, MAX_I32_ELEMENTS, "cpu runtime"); // once per new binding
    return bundle.buffers.map((b) => ({ name: b.name, type: b.type, length: sizes.get(b.name)!, init: b.init }));
  }).views;
  copyInputs(bundle, inputs, arrays);
  for (const launch of bundle.schedule) {
    const groups = evalSize(launch.grid, dims);
    if (groups <= 0) continue;
    const kernel = p.kernels.get(launch.kernel)!;
    const fn = p.fns.get(launch.kernel)!;
    const buffers = kernel.params.map((q) => arrays.get(launch.bindings[q.name]!)!);
    const sizes = kernel.sizes.map((s) => evalSize(s, dims));
    const t0 = observe ? performance.now() : 0;
    const cpu0 = observe ? processCpuMs() : 0;
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
    observe?.(launch, kernel, performance.now() - t0, processCpuMs() - cpu0);
  }
  raiseIndexCheck(bundle, arrays);
  return copyOutputs(bundle, arrays);
}
