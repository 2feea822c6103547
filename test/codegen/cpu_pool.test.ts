/**
 * The cpu backend's worker pool: dynamic chunk claiming covers every workgroup
 * of a launch exactly once, on any number of threads and chunk sizes, a
 * failing chunk surfaces as an error of the launch, and a worker thread that
 * exits fails the launch instead of hanging it.
 */
import * as wt from "node:worker_threads";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WorkerPool } from "../../backends/cpu/pool";

// A "kernel" in the JS emitter's calling convention that counts each workgroup it runs.
const COUNT_SOURCE = `(function count(bufs, sizes, numGroups, first, last) {
  for (let g = first; g < last; g++) Atomics.add(bufs[0], g, 1);
})`;
const THROW_SOURCE = `(function boom(bufs, sizes, numGroups, first, last) {
  if (last > numGroups / 2) throw new Error("boom at workgroup " + first);
})`;

describe("cpu worker pool", () => {
  const pools = [new WorkerPool(wt, 1), new WorkerPool(wt, 3)];

  it("runs every workgroup exactly once, whatever the chunk size and thread count", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 700 }),
        fc.boolean(),
        (numGroups, chunk, big) => {
          const pool = pools[big ? 1 : 0]!;
          const counts = new Int32Array(new SharedArrayBuffer(4 * numGroups));
          const here = (0, eval)(COUNT_SOURCE) as (
            b: Int32Array[],
            s: number[],
            n: number,
            f: number,
            l: number,
          ) => void;
          pool.run({ source: COUNT_SOURCE, buffers: [counts], sizes: [], numGroups, chunk }, (first, last) =>
            here([counts], [], numGroups, first, last),
          );
          const wrong = counts.findIndex((c) => c !== 1);
          expect(wrong, `workgroup ${wrong} ran ${counts[wrong]} times`).toBe(-1);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("reports a chunk that throws, on a worker or on the calling thread, and stays usable", () => {
    const pool = pools[1]!;
    const here = (0, eval)(THROW_SOURCE) as (b: unknown[], s: number[], n: number, f: number, l: number) => void;
    expect(() =>
      pool.run({ source: THROW_SOURCE, buffers: [], sizes: [], numGroups: 400, chunk: 10 }, (f, l) =>
        here([], [], 400, f, l),
      ),
    ).toThrow(/boom at workgroup/);
    // The next launch runs normally.
    const counts = new Int32Array(new SharedArrayBuffer(4 * 100));
    const count = (0, eval)(COUNT_SOURCE) as (b: Int32Array[], s: number[], n: number, f: number, l: number) => void;
    pool.run({ source: COUNT_SOURCE, buffers: [counts], sizes: [], numGroups: 100, chunk: 3 }, (f, l) =>
      count([counts], [], 100, f, l),
    );
    expect(Array.from(counts).every((c) => c === 1)).toBe(true);
  });

  it("a worker thread that exits mid-launch fails the launch instead of hanging it, and closes the pool", () => {
    const pool = new WorkerPool(wt, 2);
    // Exits the thread it runs on when that is a worker (the calling thread runs the chunks fine).
    const EXIT_SOURCE = `(function exiting(bufs, sizes, numGroups, first, last) {
      if (!require("node:worker_threads").isMainThread) process.exit(3);
    })`;
    // The calling thread takes its chunks slowly, so the workers (still starting up) get some.
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const here = () => void Atomics.wait(nap, 0, 0, 5);
    expect(() => pool.run({ source: EXIT_SOURCE, buffers: [], sizes: [], numGroups: 400, chunk: 1 }, here)).toThrow(
      /worker thread \d exited/,
    );
    expect(pool.closed).toBe(true);
    expect(() => pool.run({ source: COUNT_SOURCE, buffers: [], sizes: [], numGroups: 1, chunk: 1 }, here)).toThrow(
      /pool is closed/,
    );
  });
});
