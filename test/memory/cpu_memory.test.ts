/**
 * The cpu backend's memory stays bounded by its budget however many programs
 * and shapes run: the bytes its arena cache tracks (in process), and the
 * resident set size of a child process with worker threads (the memory the
 * workers' heaps used to keep alive). Values stay correct through eviction
 * and reuse of blocks.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { arange, clearCpuMemory, cpuMemoryStats, jit, ops, random, setCpuMemoryBudget, type Tensor } from "../../index";

const double = () => (a: Tensor) => ops.mul(a, 2); // a new function each time: a new jit, a new program

describe("cpu backend memory", () => {
  const budget = 2 * 2 ** 20;
  setCpuMemoryBudget(budget);
  afterAll(() => setCpuMemoryBudget(512 * 2 ** 20));

  it("keeps the cached bytes under the budget over hundreds of fresh jits and batch shapes", async () => {
    const x = random.normal(random.key(3), [16_384]); // 64 KiB: an arena of 128 KiB per program
    const want = Float32Array.from(await x.data(), (v) => v * 2);
    let peak = 0;
    for (let i = 0; i < 300; i++) {
      const y = jit(double(), { backend: "cpu" })(x);
      if (i % 50 === 0) expect(await y.data()).toEqual(want); // blocks are reused: values must not leak across programs
      const s = cpuMemoryStats();
      peak = Math.max(peak, s.arenaBytes + s.idleBytes);
    }
    expect(peak).toBeLessThanOrEqual(budget);
    expect(cpuMemoryStats().arenas).toBeGreaterThan(1); // still a cache: recent programs keep their buffers
    const batched = jit(double(), { backend: "cpu" });
    for (let b = 1; b <= 120; b++) {
      const xb = random.normal(random.key(b), [b, 500]);
      const y = batched(xb);
      if (b % 40 === 0) expect(await y.data()).toEqual(Float32Array.from(await xb.data(), (v) => v * 2));
      const s = cpuMemoryStats();
      peak = Math.max(peak, s.arenaBytes + s.idleBytes);
    }
    expect(peak).toBeLessThanOrEqual(budget);
    expect(cpuMemoryStats().droppedBytes).toBeGreaterThan(0);
  });

  it("runs a program larger than the budget, alone, and frees everything on clearCpuMemory", async () => {
    const x = arange(2 ** 19); // 2 MiB: an arena of 4 MiB > the budget
    const y = jit(double(), { backend: "cpu" })(x);
    expect(Array.from(await y.data())).toEqual(Array.from(await x.data(), (v) => v * 2));
    expect(cpuMemoryStats().arenas).toBe(1);
    clearCpuMemory();
    expect(cpuMemoryStats()).toMatchObject({ arenaBytes: 0, idleBytes: 0, arenas: 0 });
  });

  it("keeps the resident set flat in a process with worker threads, on both cpu targets (fresh jits, then 50 batch shapes)", () => {
    const child = fileURLToPath(new URL("./cpu_rss_child.ts", import.meta.url));
    const out = execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", child], {
      encoding: "utf8",
      env: { ...process.env, MOEFORGE_CPU_THREADS: "2", MOEFORGE_CPU_MEMORY_BYTES: String(32 * 2 ** 20) },
      timeout: 110_000,
    });
    const result = JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, Record<string, number>>;
    for (const target of ["wasm", "js"]) {
      const { warm, afterJits, afterShapes } = result[target]!;
      // Bounded: the 32 MiB budget plus blocks waiting for the collectors. Unbounded, 60 jits of 8 MiB arenas
      // add 480 MiB, and 50 shapes (arenas of up to 8 MiB, each keeping its argument alive) over 300 MiB.
      const rss = `${target}: RSS ${warm.toFixed(0)} -> ${afterJits.toFixed(0)} -> ${afterShapes.toFixed(0)} MiB`;
      expect(afterJits - warm, rss).toBeLessThan(64);
      expect(afterShapes - warm, rss).toBeLessThan(96);
    }
  });
});
