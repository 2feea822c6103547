/**
 * Asking the JS engine for a garbage collection, for memory it cannot see.
 * Device memory (WebGPU buffers) and memory shared with worker threads are
 * owned by JS objects that are small on the JS heap, so the collector runs
 * too rarely to free them: finalizers that return buffers fire late, and an
 * idle worker never collects at all. Backends call this when their own
 * accounting says memory is tight.
 */

/**
 * JS source of a function `(lock) => collector | undefined`: this isolate's
 * garbage collector, or undefined where there is none (browsers). Node exposes
 * it to a process run with --expose-gc; otherwise the flag is turned on for one
 * new context and off again. The flag is process-wide, so threads doing this
 * at once would turn it off under each other: `lock` (an Int32Array over
 * shared memory, GC_FLAG_LOCK) makes them take turns. A source string so that
 * worker threads (whose code is a string) use the same one.
 */
export const COLLECTOR_SOURCE = `((lock) => {
  if (typeof gc === "function") return gc;
  const get = typeof process !== "undefined" ? process.getBuiltinModule : undefined;
  const v8 = get && get("node:v8");
  const vm = get && get("node:vm");
  if (!v8 || !vm) return undefined;
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1, 1);
  try {
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc");
  } finally {
    v8.setFlagsFromString("--no-expose-gc");
    Atomics.store(lock, 0, 0);
    Atomics.notify(lock, 0);
  }
})`;

/** The lock around turning the --expose-gc flag on and off (pass it to workers that use COLLECTOR_SOURCE). */
export const GC_FLAG_LOCK = new Int32Array(
  typeof SharedArrayBuffer !== "undefined" ? new SharedArrayBuffer(4) : new ArrayBuffer(4),
);

let collector: (() => void) | null | undefined;

/**
 * Runs a full garbage collection now where the engine allows it (Node);
 * returns whether it ran. Finalizers of what it freed run afterwards, as a task.
 * @example if (liveBytes > budget) collectGarbage();
 */
export function collectGarbage(): boolean {
  if (collector === undefined) {
    try {
      const make = new Function(`return ${COLLECTOR_SOURCE}`)() as (lock: Int32Array) => (() => void) | undefined;
      collector = make(GC_FLAG_LOCK) ?? null;
    } catch {
      collector = null;
    }
  }
  collector?.();
  return collector !== null;
}
