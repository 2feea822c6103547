/**
 * Kernels stay within the storage buffers a device lets one kernel bind
 * (WebGPU's default maxStorageBuffersPerShaderStage is 8), counting every
 * binding: inputs, outputs, scratch and the run-time check flag. The benchmark
 * layer at its size (static and symbolic T), a layer whose gathered gate+up
 * GEMM checks its indices (8 buffers and the flag before fusion counted it),
 * and smaller limits that make fusion plan again; results against the
 * interpreter with the checks compiled in.
 */
import { describe, expect, it } from "vitest";
import { compile, storageBufferLimit } from "../../codegen/compile";
import { CompileError } from "../../codegen/types";
import type { Program } from "../../dsl/program";
import { BENCH_MOE, moePrograms } from "../../bench/moe_layer";
import { add, spec, take, trace, type Tensor } from "../../index";
import { runAndCompare } from "../../testing/random_programs";
import { fuse } from "../../codegen/passes/fusion";
import { optimize } from "../../codegen/passes/pipeline";
import { lowerPlan } from "../../codegen/lower/lower";
import { LOWERINGS } from "../../codegen/lower/table";
import { checkFlagBinder } from "../../codegen/lower/check_flag";
import { scheduleFor } from "../../codegen/schedule";
import { gatheredInputs, gatheredLayer } from "./binding_limit_cases";
import { compiledRunner, SMALL_GPU_KNOBS } from "./runners";

const widest = (p: Program, options: Parameters<typeof compile>[1]) => {
  const kernels = compile(p, options).kernels;
  const most = Math.max(...kernels.map((k) => k.params.length));
  return { kernels, most, over: (limit: number) => kernels.filter((k) => k.params.length > limit).map((k) => k.name) };
};

const SIZES = { T: 11, D: 6, H: 5, E: 4, K: 2 };

describe("kernels bind at most the device's storage buffers", () => {
  it("the limit: WebGPU's default 8 for wgsl, a device profile's own, none for the CPU targets and CUDA", () => {
    expect(storageBufferLimit("wgsl")).toBe(8);
    expect(storageBufferLimit("wgsl", { class: "discrete", maxStorageBuffersPerShaderStage: 10 })).toBe(10);
    expect(storageBufferLimit("wgsl", "cpu")).toBe(8);
    for (const t of ["cuda", "js", "wasm"] as const) expect(storageBufferLimit(t)).toBeNull();
  });

  for (const [T, p] of [
    [BENCH_MOE.T, moePrograms(BENCH_MOE)],
    ["T", moePrograms(BENCH_MOE, "T")],
  ] as const) {
    it(`benchmark layer (T = ${T}), forward and gradient, every device class: <= 8 storage buffers per kernel`, () => {
      for (const device of [undefined, "cpu", "discrete"] as const)
        for (const program of [p.forward, p.gradient]) {
          const { over } = widest(program, { target: "wgsl", device });
          expect(over(8), `device ${device}`).toEqual([]);
        }
    });
  }

  it("a checked gather in the gate+up GEMM counts the check flag: <= 8 buffers, equal to the interpreter", async () => {
    const { forward, gradient } = gatheredLayer(SIZES);
    for (const program of [forward, gradient]) {
      const { kernels, over } = widest(program, { target: "wgsl" });
      expect(over(8), kernels.map((k) => `${k.name}:${k.params.length}`).join(" ")).toEqual([]);
      // The checks are really in: some kernel binds the flag.
      expect(kernels.some((k) => k.params.some((q) => q.name === "s_checks"))).toBe(true);
    }
    const run = compiledRunner({ like: "wgsl", knobs: SMALL_GPU_KNOBS });
    await runAndCompare(run, forward, gatheredInputs(SIZES, 1, false));
    await runAndCompare(run, gradient, gatheredInputs(SIZES, 2, true));
  });

  it("fusion alone counts the flag (no replan needed): its plan lowers to kernels of <= 8 buffers", () => {
    for (const program of Object.values(gatheredLayer(SIZES))) {
      const prepared = optimize(program);
      const plan = fuse(prepared, LOWERINGS, { maxBuffers: 8, bindsCheckFlag: checkFlagBinder(prepared, true) });
      const kernels = lowerPlan(plan, scheduleFor("wgsl"), LOWERINGS, true).kernels;
      expect(Math.max(...kernels.map((k) => k.params.length))).toBeLessThanOrEqual(8);
    }
  });

  it("a device allowing fewer buffers gets narrower kernels, still equal to the interpreter", async () => {
    const { forward, gradient } = gatheredLayer(SIZES);
    for (const limit of [7, 6, 5]) {
      const device = { class: "discrete", maxStorageBuffersPerShaderStage: limit } as const;
      for (const [program, seed] of [
        [forward, 3],
        [gradient, 4],
      ] as const) {
        const { over, kernels } = widest(program, { target: "wgsl", device });
        expect(over(limit), kernels.map((k) => `${k.name}:${k.params.length}`).join(" ")).toEqual([]);
        const run = compiledRunner({ like: "wgsl", knobs: SMALL_GPU_KNOBS, device });
        await runAndCompare(run, program, gatheredInputs(SIZES, seed, program === gradient));
      }
    }
  });

  it("a kernel that cannot fit, even unfused, is a CompileError naming it, its buffers and the limit", () => {
    const program = trace(
      (x: Tensor, i: Tensor, y: Tensor) => add(take(x, i), y),
      spec([5, 3]),
      spec([4], "i32"),
      spec([4, 3]),
    );
    const device = { class: "discrete", maxStorageBuffersPerShaderStage: 2 } as const;
    const attempt = () => compile(program, { target: "wgsl", device });
    expect(attempt).toThrow(CompileError);
    expect(attempt).toThrow(
      /k0_elementwise .*binds 4 storage buffers \(.*s_checks.*\); the device allows 2 per kernel/,
    );
  });
});
