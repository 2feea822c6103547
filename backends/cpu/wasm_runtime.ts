/**
 * Runs a wasm-target KernelBundle: the bundle's buffers for the bound dims
 * live in one WebAssembly.Memory (an arena, shared when threads are available,
 * kept for the next run with the same dims); wasm kernels get buffers as byte
 * offsets into it, JS-rendered kernels (barrier kernels) get typed-array views
 * of the same bytes, so both kinds mix in one schedule. Launches with enough
 * work are split by workgroups across the worker pool, every thread running
 * its own instance of the kernel over the one shared memory.
 */
import type { AnyTypedArray } from "../../dsl/dtype";
import { evalSize, type Kernel, type KernelBundle, type Launch, type ScalarType } from "../../codegen/kernel_ir";
import { MAX_I32_ELEMENTS, bindBufferSizes } from "../../codegen/bind_sizes";
import { decodeWasmSource } from "../../codegen/emit/wasm/emitter";
import { hostImportsSource } from "../../codegen/emit/wasm/imports";
import { ELEMENT_BYTES } from "../../codegen/emit/wasm/kernel";
import { workerPool } from "./pool";
import {
  allocFor,
  chunkSize,
  copyInputs,
  copyOutputs,
  raiseIndexCheck,
  worthSplitting,
  type KernelFn,
} from "./runtime";

type WasmKernelFn = (...args: number[]) => void;

interface PreparedKernel {
  readonly kernel: Kernel & { readonly source: string };
  /** The compiled module (wasm kernels), or the JS function (barrier kernels). */
  readonly module?: WebAssembly.Module;
  readonly js?: KernelFn;
  /** Unique per compiled module: names its instances in worker threads. */
  readonly uid: number;
}

interface Arena {
  readonly memory: WebAssembly.Memory;
  readonly id: number;
  readonly offsets: Map<string, number>;
  readonly views: Map<string, AnyTypedArray>;
  /** This thread's instances of the bundle's kernels over this memory. */
  readonly instances: Map<string, WasmKernelFn>;
}

interface Prepared {
  readonly kernels: Map<string, PreparedKernel>;
  readonly arenas: Map<string, Arena>;
}

const prepared = new WeakMap<KernelBundle, Prepared>();
let nextUid = 1;
let nextMemoryId = 1;
let hostImports: Record<string, unknown> | undefined;

/** The host functions kernels import (imports.ts), built once from their sources. */
function host(): Record<string, unknown> {
  return (hostImports ??= new Function(`return ${hostImportsSource()}`)() as Record<string, unknown>);
}

function prepare(bundle: KernelBundle): Prepared {
  let p = prepared.get(bundle);
  if (!p) {
    p = { kernels: new Map(), arenas: new Map() };
    for (const k of bundle.kernels) {
      const bytes = decodeWasmSource(k.source);
      const entry: PreparedKernel = bytes
        ? { kernel: k, module: new WebAssembly.Module(bytes), uid: nextUid++ }
        : { kernel: k, js: new Function(`return ${k.source}`)() as KernelFn, uid: nextUid++ };
      p.kernels.set(k.name, entry);
    }
    prepared.set(bundle, p);
  }
  return p;
}

/** Buffers start on 16-byte boundaries (v128 loads). */
const align16 = (n: number) => Math.ceil(n / 16) * 16;

function viewOf(t: ScalarType, buffer: ArrayBufferLike, byteOffset: number, length: number): AnyTypedArray {
  const ctor = allocFor(t, 0).constructor as new (b: ArrayBufferLike, o: number, n: number) => AnyTypedArray;
  return new ctor(buffer, byteOffset, length);
}

function makeArena(bundle: KernelBundle, dims: ReadonlyMap<string, number>, shared: boolean): Arena {
  const offsets = new Map<string, number>();
  // The JS target's bind-time check: every buffer under 2^31 elements (32-bit index math).
  const lengths = bindBufferSizes(bundle, dims, MAX_I32_ELEMENTS, "cpu runtime (wasm)");
  let bytes = 16; // offset 0 stays unused
  for (const b of bundle.buffers) {
    const n = lengths.get(b.name)!;
    offsets.set(b.name, bytes);
    bytes += align16(n * ELEMENT_BYTES[b.type]);
  }
  if (bytes > 2 ** 32) throw new RangeError(`cpu backend (wasm): the bundle needs ${bytes} bytes, over wasm32's 4 GiB`);
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
  const views = new Map<string, AnyTypedArray>();
  for (const b of bundle.buffers) {
    const v = viewOf(b.type, memory.buffer, offsets.get(b.name)!, lengths.get(b.name)!);
    if (b.init) v.set(b.init);
    views.set(b.name, v);
  }
  return { memory, id: nextMemoryId++, offsets, views, instances: new Map() };
}

function instance(arena: Arena, k: PreparedKernel): WasmKernelFn {
  let fn = arena.instances.get(k.kernel.name);
  if (!fn) {
    const inst = new WebAssembly.Instance(k.module!, { mf: { memory: arena.memory, ...host() } });
    fn = inst.exports.kernel as WasmKernelFn;
    arena.instances.set(k.kernel.name, fn);
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
  observe?: (launch: Launch, kernel: Kernel, ms: number) => void,
): AnyTypedArray[] {
  const p = prepare(bundle);
  if (inputs.length !== bundle.inputs.length)
    throw new Error(`cpu runtime: expected ${bundle.inputs.length} inputs, got ${inputs.length}`);
  const pool = workerPool();
  const key = [...dims].map(([k, v]) => `${k}=${v}`).join(",");
  let arena = p.arenas.get(key);
  if (!arena) {
    arena = makeArena(bundle, dims, pool !== null);
    if (p.arenas.size > 4) p.arenas.clear();
    p.arenas.set(key, arena);
  }
  const views = arena.views;
  copyInputs(bundle, inputs, views);
  for (const launch of bundle.schedule) {
    const groups = evalSize(launch.grid, dims);
    if (groups <= 0) continue;
    const k = p.kernels.get(launch.kernel)!;
    const kernel = k.kernel;
    const sizes = kernel.sizes.map((s) => evalSize(s, dims));
    const split = pool !== null && worthSplitting(kernel, groups);
    const t0 = observe ? performance.now() : 0;
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
          wasm: { module: k.module!, memory: arena.memory, key: `${arena.id}/${k.uid}`, args },
        };
        pool.run(task, (first, last) => fn(...args, first, last));
      } else fn(...args, 0, groups);
    }
    observe?.(launch, kernel, performance.now() - t0);
  }
  raiseIndexCheck(bundle, views);
  return copyOutputs(bundle, views);
}
