/**
 * What both cpu runtimes (JS kernels: runtime.ts, wasm kernels:
 * wasm_runtime.ts) do alike around a run: the typed array of each scalar
 * type, when a launch is split across threads, copying inputs in and outputs
 * out of an arena, and failing like the interpreter when a kernel reported a
 * bad index.
 */
import { allocArray, type AnyTypedArray } from "../../dsl/dtype";
import type { Kernel, KernelBundle, Launch, ScalarType, Stmt } from "../../codegen/kernel_ir";

/** A compiled JS kernel: runs workgroups [first, last) of `numGroups`. */
export type KernelFn = (
  buffers: AnyTypedArray[],
  sizes: readonly number[],
  numGroups: number,
  first?: number,
  last?: number,
) => void;

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

/**
 * This process's CPU time in ms, all threads together (user + system), where the host
 * reports it (Node's process.cpuUsage); 0 elsewhere. Profiling: per-thread throughput on a
 * busy machine, where wall time also counts the time spent waiting for a core.
 */
export function processCpuMs(): number {
  const usage = typeof process === "undefined" ? undefined : process.cpuUsage?.();
  return usage ? (usage.user + usage.system) / 1000 : 0;
}

/** Called after each launch (profiling): its wall time and the process's CPU time over it, in ms. */
export type LaunchObserver = (launch: Launch, kernel: Kernel, ms: number, cpuMs: number) => void;

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
 * Copies the inputs into the arena's input buffers, checking their lengths.
 * Inputs named in `compare` are first compared byte for byte with what the
 * buffer holds (the previous run's input): equal ones are not copied. Returns
 * the names in `compare` whose bytes changed.
 */
export function copyInputs(
  bundle: KernelBundle,
  inputs: readonly AnyTypedArray[],
  arrays: ReadonlyMap<string, AnyTypedArray>,
  compare: ReadonlySet<string> = new Set(),
): Set<string> {
  if (inputs.length !== bundle.inputs.length)
    throw new Error(`cpu runtime: expected ${bundle.inputs.length} inputs, got ${inputs.length}`);
  const changed = new Set<string>();
  bundle.inputs.forEach((name, i) => {
    const dst = arrays.get(name)!;
    const src = inputs[i]!;
    if (dst.length !== src.length)
      throw new Error(`cpu runtime: input ${i} has ${src.length} elements, expected ${dst.length}`);
    if (compare.has(name)) {
      if (sameBytes(src, dst)) return;
      changed.add(name);
    }
    dst.set(src);
  });
  return changed;
}

/** Whether two arrays of one length and type hold the same bits (NaN payloads and -0 included). */
function sameBytes(a: AnyTypedArray, b: AnyTypedArray): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const words = a.byteLength % 4 === 0 && a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0;
  const view = (x: AnyTypedArray) =>
    words
      ? new Int32Array(x.buffer, x.byteOffset, x.byteLength / 4)
      : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const [u, v] = [view(a), view(b)];
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return false;
  return true;
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
