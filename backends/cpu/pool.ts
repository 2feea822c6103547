/**
 * A pool of worker threads that run a kernel launch together with the calling
 * thread, synchronously from the caller's point of view: each worker gets the
 * launch through a MessageChannel it reads with `receiveMessageOnPort`, is
 * woken with `Atomics.notify`, and reports completion in a shared status word
 * the caller `Atomics.wait`s on. Every thread claims chunks of workgroups from
 * one shared counter until none are left (dynamic scheduling: a thread slowed
 * by the machine takes fewer chunks instead of holding the launch back).
 * Buffers are typed arrays over SharedArrayBuffers, so all threads see the same
 * memory; workgroups of a launch are independent (kernels never communicate
 * across workgroups), so any split is correct.
 *
 * Memory: a worker's copy of a SharedArrayBuffer keeps the memory alive until
 * the worker's own garbage collector runs, and an idle worker allocates too
 * little to ever run it; so the pool can tell its workers to collect
 * (`collect()`, called by the arena cache after it drops blocks, see
 * arenas.ts). Compiled JS kernels are cached per worker by source, least
 * recently used first out past KERNEL_CACHE_BYTES of source; wasm instances per
 * arena block, dropped when the block's arena is evicted (`forget`), since an
 * instance keeps its memory alive.
 *
 * Node only (worker_threads); elsewhere, or with MOEFORGE_CPU_THREADS=1, the
 * cpu backend runs on the calling thread alone.
 */
import type { AnyTypedArray } from "../../dsl/dtype";
import { hostImportsSource } from "../../codegen/emit/wasm/imports";
import { COLLECTOR_SOURCE, GC_FLAG_LOCK } from "../gc";

type WorkerThreads = typeof import("node:worker_threads");

/** One kernel launch: its workgroups [0, numGroups) are claimed `chunk` at a time. */
export interface LaunchTask {
  readonly source: string;
  readonly buffers: readonly AnyTypedArray[];
  readonly sizes: readonly number[];
  readonly numGroups: number;
  readonly chunk: number;
  /**
   * A wasm kernel (then `source` and `buffers` are unused): each thread runs its
   * own instance over the one shared memory (cached by the arena's block and
   * the module's uid), called as `kernel(...args, first, last)`.
   */
  readonly wasm?: {
    readonly module: WebAssembly.Module;
    readonly memory: WebAssembly.Memory;
    readonly block: number;
    readonly uid: number;
    readonly args: readonly number[];
  };
  /** Run the worker's garbage collector after the launch (frees buffers the caller has dropped). */
  readonly collect?: boolean;
  /** Blocks whose arenas were evicted: the worker drops its wasm instances over them first. */
  readonly forget?: readonly number[];
}

/** Bytes of kernel source a worker keeps compiled (least recently used out first). */
const KERNEL_CACHE_BYTES = 16 * 2 ** 20;

const IDLE = 0;
const BUSY = 1;
const FAILED = 2;
/** The worker thread has ended (set by its exit handler): the pool is closed. */
const EXITED = 3;

/** The worker's program: wait for a slice, run it (compiling each kernel source or wasm instance once), report. */
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const { port, status, next, index, gcLock } = workerData;
// However this thread ends, tell a caller that may be waiting on it.
process.on("exit", () => {
  Atomics.store(status, index, ${EXITED});
  Atomics.notify(status, index);
});
// This isolate's garbage collector (see backends/gc.ts).
const collect = ${COLLECTOR_SOURCE}(gcLock);
// Compiled kernels by source, least recently used first.
const kernels = new Map();
// Host functions wasm kernels import (codegen/emit/wasm/imports.ts).
const HOST = ${hostImportsSource()};
let kernelBytes = 0;
function kernel(source) {
  let fn = kernels.get(source);
  if (fn) {
    kernels.delete(source);
  } else {
    fn = new Function("return " + source)();
    kernelBytes += source.length;
    for (const [old] of kernels) {
      if (kernelBytes <= ${KERNEL_CACHE_BYTES}) break;
      kernels.delete(old);
      kernelBytes -= old.length;
    }
  }
  kernels.set(source, fn);
  return fn;
}
// Wasm kernel instances by arena block, then module uid (dropped with the arena: task.forget).
const instances = new Map();
function instance(w) {
  let byUid = instances.get(w.block);
  if (!byUid) instances.set(w.block, (byUid = new Map()));
  let fn = byUid.get(w.uid);
  if (!fn) {
    fn = new WebAssembly.Instance(w.module, { mf: { memory: w.memory, ...HOST } }).exports.kernel;
    byUid.set(w.uid, fn);
  }
  return fn;
}
for (;;) {
  // Sleep until the caller marks this worker BUSY (after posting a task); a
  // FAILED status stays until the caller has read the error and reset it.
  // (A caller only posts to a worker that has not EXITED.)
  for (let s = Atomics.load(status, index); s !== ${BUSY}; s = Atomics.load(status, index)) Atomics.wait(status, index, s);
  let task = receiveMessageOnPort(port).message;
  try {
    for (const block of task.forget ?? []) instances.delete(block);
    let w = task.wasm;
    const fn = task.numGroups <= 0 ? undefined : w ? instance(w) : kernel(task.source);
    for (;;) {
      const first = Atomics.add(next, 0, task.chunk);
      if (first >= task.numGroups) break;
      const last = Math.min(first + task.chunk, task.numGroups);
      if (w) fn(...w.args, first, last);
      else fn(task.buffers, task.sizes, task.numGroups, first, last);
    }
    if (task.collect) {
      task = w = undefined;
      if (collect) collect();
    }
    Atomics.store(status, index, ${IDLE});
  } catch (e) {
    port.postMessage(String(e && e.stack || e));
    Atomics.store(status, index, ${FAILED});
  }
  Atomics.notify(status, index);
}
`;

interface PoolWorker {
  readonly port: import("node:worker_threads").MessagePort;
  readonly thread: import("node:worker_threads").Worker;
}

export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  private readonly status: Int32Array;
  /** Set once a worker thread has ended: the pool runs nothing more (`workerPool()` makes a new one). */
  closed = false;
  /** Blocks to forget, sent with the next task (see `forget`). */
  private forgotten: number[] = [];
  /** The next unclaimed workgroup of the launch in flight. */
  private readonly next: Int32Array;

  constructor(
    private readonly wt: WorkerThreads,
    readonly size: number,
  ) {
    this.status = new Int32Array(new SharedArrayBuffer(4 * Math.max(size, 1)));
    this.next = new Int32Array(new SharedArrayBuffer(4));
    for (let index = 0; index < size; index++) {
      const { port1, port2 } = new wt.MessageChannel();
      const worker = new wt.Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { port: port2, status: this.status, next: this.next, index, gcLock: GC_FLAG_LOCK },
        transferList: [port2],
      });
      worker.unref();
      port1.unref();
      this.workers.push({ port: port1, thread: worker });
    }
  }

  /**
   * Runs `task` on the calling thread and every worker, each claiming chunks
   * of workgroups until none are left (`runChunk(first, last)` runs a chunk
   * here); returns when all are done and rethrows a worker's error.
   */
  run(task: LaunchTask, runChunk: (first: number, last: number) => void): void {
    if (this.closed || this.workers.some((_, w) => Atomics.load(this.status, w) === EXITED)) {
      this.close();
      throw new Error(
        "cpu backend: a worker thread of the pool has exited; the pool is closed (the next launch starts a new one)",
      );
    }
    Atomics.store(this.next, 0, 0);
    const started: number[] = [];
    if (this.forgotten.length) {
      task = { ...task, forget: this.forgotten };
      this.forgotten = [];
    }
    for (let w = 0; w < this.workers.length; w++) {
      this.workers[w]!.port.postMessage(task);
      Atomics.store(this.status, w, BUSY);
      Atomics.notify(this.status, w);
      started.push(w);
    }
    let error: unknown;
    let exited = false;
    try {
      for (;;) {
        const first = Atomics.add(this.next, 0, task.chunk);
        if (first >= task.numGroups) break;
        runChunk(first, Math.min(first + task.chunk, task.numGroups));
      }
    } catch (e) {
      error = e;
      Atomics.store(this.next, 0, task.numGroups); // the workers stop claiming
    }
    for (const w of started) {
      while (Atomics.load(this.status, w) === BUSY) Atomics.wait(this.status, w, BUSY);
      if (Atomics.load(this.status, w) === EXITED) {
        error ??= new Error(
          `cpu backend: worker thread ${w} exited while running kernel slices (the pool is closed; the next launch starts a new one)`,
        );
        exited = true;
      } else if (Atomics.load(this.status, w) === FAILED) {
        const msg = this.wt.receiveMessageOnPort(this.workers[w]!.port as never) as { message: string } | undefined;
        error ??= new Error(`cpu backend worker failed: ${msg?.message ?? "unknown error"}`);
        Atomics.store(this.status, w, IDLE);
      }
    }
    if (exited) this.close(); // the live workers are idle now
    if (error) throw error;
  }

  /** Makes every worker run its garbage collector (after the caller dropped shared buffers), and waits for it. */
  collect(): void {
    this.run({ source: "", buffers: [], sizes: [], numGroups: 0, chunk: 1, collect: true }, () => {});
  }

  /** Blocks whose arenas were evicted: sent with the next task, so workers drop their wasm instances over them. */
  forget(block: number): void {
    this.forgotten.push(block);
  }

  /** Ends every worker thread; the pool runs nothing more. */
  close(): void {
    this.closed = true;
    for (const w of this.workers) void w.thread.terminate();
  }
}

let pool: WorkerPool | null | undefined;

/** Threads to use: MOEFORGE_CPU_THREADS, else the machine's parallelism (at most 8). */
export function cpuThreads(): number {
  const env = typeof process !== "undefined" ? process.env?.MOEFORGE_CPU_THREADS : undefined;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`MOEFORGE_CPU_THREADS=${env}: expected a positive integer`);
    return n;
  }
  const os = typeof process !== "undefined" ? process.getBuiltinModule?.("node:os") : undefined;
  return Math.min(8, os?.availableParallelism?.() ?? 1);
}

/** The shared pool (created on first use), or null when threads are unavailable or disabled. */
export function workerPool(): WorkerPool | null {
  if (pool !== undefined && !pool?.closed) return pool;
  const threads = cpuThreads();
  const wt =
    threads > 1 && typeof process !== "undefined"
      ? (process.getBuiltinModule?.("node:worker_threads") as WorkerThreads | undefined)
      : undefined;
  pool = wt && typeof SharedArrayBuffer !== "undefined" ? new WorkerPool(wt, threads - 1) : null;
  return pool;
}
