/**
 * Differential tests of the webgpu backend against the interpreter on random
 * programs (test/codegen/random_programs.ts): elementwise chains, broadcasts,
 * reductions over random axes, matmuls, gathers/scatters with repeated
 * indices, cumsum, topK, sort, movement ops, random bits, on sizes 1 and
 * primes; their reverse-mode gradient programs (`vjpProgram`); and programs
 * on inputs of more than 65535 elements compiled with one thread per
 * workgroup, so every launch folds past the 65535-per-dimension limit.
 * f32 outputs must match in relative 2-norm error <= 1e-4, ints/bools exactly.
 *
 * Cases per run: 40 forward + 25 gradient + 2 large random programs + 3 large shapes
 * (from the suite's fixed fast-check seed, FC_SEED to vary; fast-check prints the
 * seed and the shrunk recipe of a failure), plus every kernel of 10 lowered programs
 * checked with Dawn's getCompilationInfo, plus sorts, max/argmax and segment scatters
 * on rows long enough for merge passes (ties, NaNs, a named row length, shared orderings).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { compile } from "../../codegen/compile";
import { evalSize } from "../../codegen/kernel_ir";
import { evalProgram } from "../../dsl/trace";
import { webgpuBackend } from "../../backends/webgpu/index";
import { wgslCompilationMessages } from "../../backends/webgpu/pipelines";
import { runWgslBundle } from "../../backends/webgpu/runtime";
import {
  LARGE_SHAPES,
  gradientCase,
  mulberry32,
  randomFloats,
  randomProgramArb,
  relativeError,
  runAndCompare,
} from "../../testing/random_programs";
import * as ops from "../../dsl/ops";
import { spec, trace } from "../../dsl/api";
import { tensor } from "../../dsl/creation";
import type { Tensor } from "../../dsl/tensor";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();
const onWebGPU = (p: Parameters<typeof webgpuBackend.run>[0], xs: Parameters<typeof webgpuBackend.run>[1]) =>
  webgpuBackend.run(p, xs);

describe.runIf(ctx)("webgpu backend equals the interpreter on random programs", () => {
  it("every kernel of lowered random programs compiles in Dawn with no errors", async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb(), async (c) => {
        for (const k of compile(c.program, { target: "wgsl" }).kernels) {
          const errors = (await wgslCompilationMessages(ctx!, k.source)).filter((m) => m.type === "error");
          expect(errors.map((m) => `${k.name} line ${m.lineNum}: ${m.message}`)).toEqual([]);
        }
      }),
      { numRuns: 10 },
    );
  });

  it("forward programs (40 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb(), async (c) => {
        await runAndCompare(onWebGPU, c.program, c.inputs, 1e-4);
      }),
      { numRuns: 40 },
    );
  });

  it("gradient programs from vjpProgram (25 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb({ maxSteps: 4 }), fc.nat(), async (c, seed) => {
        const g = gradientCase(c, seed);
        await runAndCompare(onWebGPU, g.program, g.inputs, 1e-4);
      }),
      { numRuns: 25 },
    );
  });

  it("random programs on inputs over 65535 elements (2 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb({ large: true, maxSteps: 3 }), async (c) => {
        await runAndCompare(onWebGPU, c.program, c.inputs, 1e-4);
      }),
      { numRuns: 2 },
    );
  });

  it("inputs over 65535 elements with one thread per workgroup: launches fold into 2-D grids (3 shapes)", async () => {
    const tiny = { elementwiseWorkgroup: 1, reduceWorkgroup: 1 };
    for (const [k, shape] of LARGE_SHAPES.entries()) {
      const x = randomFloats(mulberry32(k), "f32", shape);
      const program = trace((t: Tensor) => ops.sigmoid(ops.add(ops.exp(ops.mul(t, 0.5)), ops.square(t))), x);
      const bundle = compile(program, { target: "wgsl", knobs: tiny });
      const groups = bundle.schedule.map((l) => evalSize(l.grid, new Map()));
      expect(Math.max(...groups), "some launch needs folding").toBeGreaterThan(65535);
      const [got] = await runWgslBundle(ctx!, bundle, [{ type: "f32", data: x.dataSync() }]);
      const [want] = evalProgram(program, [x]);
      expect(relativeError(got!, want!.dataSync())).toBeLessThanOrEqual(1e-4);
    }
  });

  it("sorts, max/argmax (NaN rows included) and segment scatters on rows long enough for merge passes equal the interpreter", async () => {
    const rng = mulberry32(77);
    const ties = (rows: number, n: number) =>
      tensor(
        Float32Array.from({ length: rows * n }, () => (rng() < 0.05 ? NaN : Math.floor(rng() * 9) - 4)),
        [rows, n],
      );
    for (const [rows, n] of [
      [3, 300],
      [2, 1031],
    ] as const) {
      const x = ties(rows, n);
      for (const descending of [false, true]) {
        const program = trace(
          (v: Tensor) => [
            ops.argsort(v, -1, descending),
            ops.sort(v, -1, descending),
            ...ops.topK(v, 5),
            ops.max(v, -1),
            ops.argmax(v, -1),
          ],
          x,
        );
        await runAndCompare(onWebGPU, program, [x], 0);
      }
    }
    const experts = tensor(
      Int32Array.from({ length: 2 * 2048 }, () => Math.floor(rng() * 8)),
      [2, 2048],
      "i32",
    );
    await runAndCompare(
      onWebGPU,
      trace((v: Tensor) => [ops.argsort(v, -1), ...ops.topK(v, 3)], experts),
      [experts],
      0,
    );
    const named = trace((v: Tensor) => ops.argsort(v, -1), spec([2, "N"]));
    for (const n of [7, 200]) await runAndCompare(onWebGPU, named, [ties(2, n)], 0);
    const idx = tensor(
      Int32Array.from({ length: 1031 }, () => Math.floor(rng() * 37)),
      [1031],
      "i32",
    );
    const [a, u, w] = [
      randomFloats(rng, "f32", [37, 3]),
      randomFloats(rng, "f32", [1031, 3]),
      randomFloats(rng, "f32", [1031, 3]),
    ];
    const scatters = trace(
      (t: Tensor, i: Tensor, p: Tensor, q: Tensor) => [
        ops.scatterAdd(t, i, p, 0),
        ops.scatterAdd(t, i, ops.mul(q, 2), 0),
      ],
      a,
      idx,
      u,
      w,
    );
    await runAndCompare(onWebGPU, scatters, [a, idx, u, w], 1e-5);
  });
});
