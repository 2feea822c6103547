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
 * Node only (worker_threads); elsewhere, or with MOEFORGE_CPU_THREADS=1, the
 * cpu backend runs on the calling thread alone.
 */
import type { AnyTypedArray } from "../../dsl/dtype";
import { hostImportsSource } from "../../codegen/emit/wasm/imports";

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
   * own instance (cached under `key`) over the one shared memory, called as
   * `kernel(...args, first, last)`.
   */
  readonly wasm?: {
    readonly module: WebAssembly.Module;
    readonly memory: WebAssembly.Memory;
    readonly key: string;
    readonly args: readonly number[];
  };
}

const IDLE = 0;
const BUSY = 1;
const FAILED = 2;
/** The worker thread has ended (set by its exit handler): the pool is closed. */
const EXITED = 3;

/** The worker's program: wait for a slice, run it (compiling each kernel source or wasm instance once), report. */
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const { port, status, next, index } = workerData;
// However this thread ends, tell a caller that may be waiting on it.
process.on("exit", () => {
  Atomics.store(status, index, ${EXITED});
  Atomics.notify(status, index);
});
const kernels = new Map();
// Host functions wasm kernels import (codegen/emit/wasm/imports.ts).
const HOST = ${hostImportsSource()};
for (;;) {
  // Sleep until the caller marks this worker BUSY (after posting a task); a
  // FAILED status stays until the caller has read the error and reset it.
  // (A caller only posts to a worker that has not EXITED.)
  for (let s = Atomics.load(status, index); s !== ${BUSY}; s = Atomics.load(status, index)) Atomics.wait(status, index, s);
  const task = receiveMessageOnPort(port).message;
  try {
    const w = task.wasm;
    const key = w ? w.key : task.source;
    let fn = kernels.get(key);
    if (!fn) {
      if (kernels.size > 512) kernels.clear();
      fn = w
        ? new WebAssembly.Instance(w.module, { mf: { memory: w.memory, ...HOST } }).exports.kernel
        : new Function("return " + task.source)();
      kernels.set(key, fn);
    }
    for (;;) {
      const first = Atomics.add(next, 0, task.chunk);
      if (first >= task.numGroups) break;
      const last = Math.min(first + task.chunk, task.numGroups);
      if (w) fn(...w.args, first, last);
      else fn(task.buffers, task.sizes, task.numGroups, first, last);
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
        workerData: { port: port2, status: this.status, next: this.next, index },
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
