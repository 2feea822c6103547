/**
 * Sorting kernels against the interpreter: argsort, sort and topK on rows
 * short enough for the one-kernel ranking schedule and long enough for merge
 * passes (lengths around the switch-over and powers of two, prime lengths),
 * with many ties and NaNs, ascending and descending, on the JS schedule and a
 * GPU-shaped one; rows whose length is a named dim; and the segment
 * scatter-add (its updates are merge-sorted by target) with repeated indices.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import { argsort, dims, scatterAdd, sort, spec, tensor, topK, trace, type Tensor } from "../../index";
import { mulberry32, randomFloats, runAndCompare } from "../../testing/random_programs";
import { gpuShapedOnJs, onCpu } from "./runners";

const LENGTHS = [1, 2, 3, 63, 64, 65, 127, 128, 129, 300, 1031];

/** Rows of values from a small set (many ties), some NaN. */
function rowsWithTies(seed: number, rows: number, n: number, nanRate: number): Tensor {
  const rng = mulberry32(seed);
  const data = Float32Array.from({ length: rows * n }, () =>
    rng() < nanRate ? NaN : Math.floor(rng() * 7) - 3 + (rng() < 0.3 ? rng() : 0),
  );
  return tensor(data, [rows, n]);
}

describe("sorting kernels equal the interpreter", () => {
  it("argsort, sort and topK on short and long rows, ties and NaNs, both orders, both schedules", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...LENGTHS),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.constantFrom(0, 0.1),
        fc.nat(),
        fc.boolean(),
        async (n, rows, descending, nanRate, seed, gpuShaped) => {
          const x = rowsWithTies(seed, rows, n, nanRate);
          const k = 1 + (seed % n);
          const program = trace((v: Tensor) => [argsort(v, -1, descending), sort(v, -1, descending), ...topK(v, k)], x);
          await runAndCompare(gpuShaped ? gpuShapedOnJs : onCpu, program, [x], 0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("integer keys (expert ids): argsort, sort and topK on every target, short and long rows", async () => {
    const rng = mulberry32(21);
    for (const n of [8, 2048]) {
      const x = tensor(
        Int32Array.from({ length: 2 * n }, () => Math.floor(rng() * 8)),
        [2, n],
        "i32",
      );
      const program = trace((v: Tensor) => [argsort(v, -1), sort(v, -1, true), ...topK(v, 3)], x);
      for (const target of ["js", "wgsl", "cuda"] as const) expect(() => compile(program, { target })).not.toThrow();
      for (const runner of [onCpu, gpuShapedOnJs]) await runAndCompare(runner, program, [x], 0);
    }
  });

  it("rows of a named length: one program, many lengths", async () => {
    // The row length is N + 1: topK(v, 2) needs a last axis provably >= 2 (a bare named dim is only >= 1).
    const program = trace((v: Tensor) => [argsort(v, -1), topK(v, 2)[1]], spec([2, dims.add("N", 1)]));
    for (const n of [2, 5, 64, 65, 200]) {
      const x = rowsWithTies(n, 2, n, 0.05);
      for (const runner of [onCpu, gpuShapedOnJs]) await runAndCompare(runner, program, [x], 0);
    }
  });

  it("rows of up to 64 are one ranking kernel; longer rows add ceil(log2(n / 64)) merge passes", () => {
    const launches = (n: number) =>
      compile(
        trace((v: Tensor) => argsort(v), spec([3, n])),
        { target: "wgsl" },
      ).schedule.length;
    expect(launches(64)).toBe(1);
    expect(launches(65)).toBe(2);
    expect(launches(128)).toBe(2);
    expect(launches(129)).toBe(3);
    expect(launches(1031)).toBe(6);
    // Past 2^30 elements a row's merged runs would overflow 32-bit run ends: a compile error naming the op.
    expect(() =>
      compile(
        trace((v: Tensor) => argsort(v), spec([2 ** 30 + 1])),
        { target: "wgsl" },
      ),
    ).toThrow(/argsort.*at most 2\^30/);
  });

  it("segment scatter-add (GPU-shaped) with heavily repeated indices equals the interpreter", async () => {
    const rng = mulberry32(5);
    for (const [targets, updates] of [
      [1, 70],
      [7, 300],
      [50, 1031],
    ] as const) {
      const x = randomFloats(rng, "f32", [targets, 3]);
      const idx = tensor(
        Int32Array.from({ length: updates }, () => Math.floor(rng() * targets)),
        [updates],
        "i32",
      );
      const u = randomFloats(rng, "f32", [updates, 3]);
      const program = trace((a: Tensor, i: Tensor, b: Tensor) => scatterAdd(a, i, b, 0), x, idx, u);
      await runAndCompare(gpuShapedOnJs, program, [x, idx, u], 1e-5);
    }
  });

  it("scatters with the same indices share one ordering; another target length gets its own", async () => {
    const rng = mulberry32(9);
    const idx = tensor(
      Int32Array.from({ length: 200 }, () => Math.floor(rng() * 6)),
      [200],
      "i32",
    );
    const [x, u, v] = [
      randomFloats(rng, "f32", [6, 2]),
      randomFloats(rng, "f32", [200, 2]),
      randomFloats(rng, "f32", [200, 2]),
    ];
    const y = randomFloats(rng, "f32", [4, 2]); // length 4: indices 4 and 5 are out of range there
    const twoSame = trace(
      (a: Tensor, i: Tensor, b: Tensor, c: Tensor) => [scatterAdd(a, i, b, 0), scatterAdd(a, i, c, 0)],
      x,
      idx,
      u,
      v,
    );
    const orderKernels = (p: typeof twoSame) =>
      compile(p, { target: "wgsl" }).kernels.filter((k) => k.name.includes("scatter_order")).length;
    const one = orderKernels(trace((a: Tensor, i: Tensor, b: Tensor) => scatterAdd(a, i, b, 0), x, idx, u));
    expect(one).toBeGreaterThan(1);
    expect(orderKernels(twoSame)).toBe(one);
    await runAndCompare(gpuShapedOnJs, twoSame, [x, idx, u, v], 1e-5);
    const otherLength = trace(
      (a: Tensor, i: Tensor, b: Tensor, c: Tensor) => [scatterAdd(a, i, b, 0), scatterAdd(c, i, b, 0)],
      x,
      idx,
      u,
      y,
    );
    expect(orderKernels(otherLength)).toBe(2 * one);
  });
});
