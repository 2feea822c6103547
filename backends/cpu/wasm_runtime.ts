/**
 * Runs a wasm-target KernelBundle: the bundle's buffers for the bound dims
 * live in one WebAssembly.Memory (an arena from the cpu backend's arena cache,
 * arenas.ts: shared when the kernels are built for threads, kept for the next
 * run with the same dims under the cache's byte budget); wasm kernels get
 * buffers as byte offsets into it, JS-rendered kernels (barrier kernels, index
 * math past 2^31) get typed-array views of the same bytes, so both kinds mix
 * in one schedule. Launches with enough work are split by workgroups across
 * the worker pool, every thread running its own instance of the kernel over
 * the one shared memory (instances are per arena, dropped with it).
 */
import type { AnyTypedArray } from "../../dsl/dtype";
import { evalSize, type Kernel, type KernelBundle, type Launch } from "../../codegen/kernel_ir";
import { MAX_I32_ELEMENTS, bindBufferSizes } from "../../codegen/bind_sizes";
import { decodeWasmSource, wasmMemoryKind } from "../../codegen/emit/wasm/emitter";
import { hostImportsSource } from "../../codegen/emit/wasm/imports";
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
import type { Arena } from "./memory";
import { workerPool } from "./pool";

type WasmKernelFn = (...args: number[]) => void;

interface PreparedKernel {
  readonly kernel: Kernel & { readonly source: string };
  /** The compiled module (wasm kernels), or the JS function (JS-rendered kernels). */
  readonly module?: WebAssembly.Module;
  readonly js?: KernelFn;
  /** Unique per compiled module: names its instances in worker threads. */
  readonly uid: number;
}

const prepared = new WeakMap<KernelBundle, Map<string, PreparedKernel>>();
/**
 * Per arena, the reusable launches (packed weight panels, `Launch.reusable`) whose
 * results its buffers hold: skipped while their inputs' bytes stay the same.
 */
const current = new WeakMap<Arena, Set<Launch>>();
/** This thread's instances of the kernels over each arena's memory (they go with the arena). */
const instances = new WeakMap<Arena, Map<number, WasmKernelFn>>();
let nextUid = 1;
let hostImports: Record<string, unknown> | undefined;

/** The host functions kernels import (imports.ts), built once from their sources. */
function host(): Record<string, unknown> {
  return (hostImports ??= new Function(`return ${hostImportsSource()}`)() as Record<string, unknown>);
}

function prepare(bundle: KernelBundle): Map<string, PreparedKernel> {
  let p = prepared.get(bundle);
  if (!p) {
    p = new Map();
    for (const k of bundle.kernels) {
      const bytes = decodeWasmSource(k.source);
      const entry: PreparedKernel = bytes
        ? { kernel: k, module: new WebAssembly.Module(bytes), uid: nextUid++ }
        : { kernel: k, js: new Function(`return ${k.source}`)() as KernelFn, uid: nextUid++ };
      p.set(k.name, entry);
    }
    prepared.set(bundle, p);
  }
  return p;
}

function instance(arena: Arena, k: PreparedKernel): WasmKernelFn {
  let byUid = instances.get(arena);
  if (!byUid) instances.set(arena, (byUid = new Map()));
  let fn = byUid.get(k.uid);
  if (!fn) {
    const inst = new WebAssembly.Instance(k.module!, { mf: { memory: arena.block.memory!, ...host() } });
    fn = inst.exports.kernel as WasmKernelFn;
    byUid.set(k.uid, fn);
  }
  return fn;
}

/**
 * Executes a wasm-target `bundle` on host arrays (as `runBundle` does for the JS target).
 * @example const [y] = runWasmBundle(compile(p, { target: "wasm" }), [x], new Map([["N", 8]]));
 */
export function runWasmBundle(
  bundle: KernelBundle,
  inputs: readonly AnyTypedArray[],
  dims: ReadonlyMap<string, number>,
  observe?: LaunchObserver,
): AnyTypedArray[] {
  const p = prepare(bundle);
  // The kernels' memory import is shared exactly when they were built for threads; the pool may still be off.
  const shared = wasmMemoryKind().shared;
  const pool = shared ? workerPool() : null;
  const arena = arenaFor(bundle, dims, shared ? "wasm-shared" : "wasm", () => {
    // The JS target's bind-time check: every buffer under 2^31 elements (32-bit index math).
    const lengths = bindBufferSizes(bundle, dims, MAX_I32_ELEMENTS, "cpu runtime (wasm)");
    return bundle.buffers.map((b) => ({ name: b.name, type: b.type, length: lengths.get(b.name)!, init: b.init }));
  });
  const views = arena.views;
  const watched = new Set(bundle.schedule.flatMap((l) => l.reusable?.inputs ?? []));
  const changed = copyInputs(bundle, inputs, views, watched);
  let done = current.get(arena);
  if (!done) current.set(arena, (done = new Set()));
  for (const launch of bundle.schedule) {
    if (launch.reusable && done.has(launch) && !launch.reusable.inputs.some((name) => changed.has(name))) continue;
    const groups = evalSize(launch.grid, dims);
    if (groups <= 0) continue;
    const k = p.get(launch.kernel)!;
    const kernel = k.kernel;
    const sizes = kernel.sizes.map((s) => evalSize(s, dims));
    const split = pool !== null && worthSplitting(kernel, groups);
    const t0 = observe ? performance.now() : 0;
    const cpu0 = observe ? processCpuMs() : 0;
    if (k.js) {
      const buffers = kernel.params.map((q) => views.get(launch.bindings[q.name]!)!);
      if (split) {
        const task = {
          source: kernel.source,
          buffers,
          sizes,
          numGroups: groups,
          chunk: chunkSize(groups, pool.size + 1),
        };
        pool.run(task, (first, last) => k.js!(buffers, sizes, groups, first, last));
      } else k.js(buffers, sizes, groups);
    } else {
      const fn = instance(arena, k);
      const args = [...kernel.params.map((q) => arena.offsets.get(launch.bindings[q.name]!)!), ...sizes, groups];
      if (split) {
        const task = {
          source: "",
          buffers: [],
          sizes: [],
          numGroups: groups,
          chunk: chunkSize(groups, pool.size + 1),
          wasm: { module: k.module!, memory: arena.block.memory!, block: arena.block.id, uid: k.uid, args },
        };
        pool.run(task, (first, last) => fn(...args, first, last));
      } else fn(...args, 0, groups);
    }
    if (launch.reusable) done.add(launch);
    observe?.(launch, kernel, performance.now() - t0, processCpuMs() - cpu0);
  }
  raiseIndexCheck(bundle, views);
  return copyOutputs(bundle, views);
}
