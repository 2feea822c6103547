/**
 * Schedules per device class (#17): the cpu class (GPU APIs on CPU cores) gets
 * barrier-free register-tiled GEMMs, skinny-N GEMMs and thread-per-row
 * reductions; GPU classes keep shared-memory tiles. Every schedule's kernels
 * run on the JS target with the GPU-shaped schedule (`like: "wgsl"` plus the
 * device) against the interpreter, forward and gradient.
 */
import { describe, expect, it } from "vitest";
import "../../codegen/emit/all";
import { compile } from "../../codegen/compile";
import { cudaDeviceProfile, deviceProfile } from "../../codegen/device";
import { SCHEDULE_CANDIDATES, scheduleFor } from "../../codegen/schedule";
import * as ops from "../../dsl/ops";
import { spec, trace } from "../../dsl/api";
import type { Tensor } from "../../dsl/tensor";
import { runAndCompare } from "../../testing/random_programs";
import { scheduleCases } from "../../testing/schedule_cases";
import { checkKnobs } from "../../backends/webgpu/tuning";
import { compiledRunner } from "./runners";

describe("device classes in the schedule", () => {
  it("the cpu class gets register tiles, skinny GEMMs and thread-per-row reductions; GPU classes shared tiles", () => {
    const cpu = scheduleFor("wgsl", { device: "cpu" });
    expect(cpu.matmul()).toMatchObject({ shared: false, microM: 8, microN: 8, tileM: 8, tileN: 8, workgroupSize: 64 });
    expect(cpu.matmul({ N: 8 })).toMatchObject({ shared: false, microM: 1, microN: 8, tileN: 8 });
    expect(cpu.matmul({ N: 17 }).microN).toBe(8);
    expect(cpu.matmul({ N: "T" }).microN).toBe(8);
    expect(cpu.reduce(256, 2048).mode).toBe("thread");
    expect(cpu.reduce(256, "T").mode).toBe("thread");
    expect(cpu.reduce(100000, 4).mode).toBe("workgroup");
    expect(cpu.reduce("T", 8).mode).toBe("workgroup");
    expect(cpu.reduce("T", 2048).mode).toBe("thread");
    for (const device of [undefined, "discrete", "integrated", cudaDeviceProfile(9, 0)] as const) {
      const s = scheduleFor("wgsl", device ? { device } : {});
      expect(s.matmul()).toMatchObject({ shared: true, tileM: 64, tileN: 64 });
      expect(s.matmul({ N: 8 }).shared).toBe(true);
      expect(s.reduce(256, 2048).mode).toBe("workgroup");
    }
    // The serial targets ignore the device: their own schedule.
    expect(scheduleFor("js", { device: "cpu" }).matmul()).toEqual(scheduleFor("js").matmul());
  });

  it("profiles: class defaults, CUDA compute capability, clear errors", () => {
    expect(deviceProfile("cpu")).toEqual({ class: "cpu", workgroupMemory: "slow" });
    expect(deviceProfile({ class: "discrete", subgroupSize: 32 })).toEqual({
      class: "discrete",
      workgroupMemory: "fast",
      subgroupSize: 32,
    });
    expect(cudaDeviceProfile(8, 6)).toMatchObject({ class: "discrete", computeCapability: 86, subgroupSize: 32 });
    expect(() => deviceProfile("tpu" as "cpu")).toThrow(
      /unknown device class "tpu"; expected one of cpu, discrete, integrated/,
    );
    expect(() => cudaDeviceProfile(9.5)).toThrow(/compute capability/);
    // A slow-memory profile of a GPU class schedules by the field, not the name.
    expect(scheduleFor("wgsl", { device: { class: "discrete", workgroupMemory: "slow" } }).matmul().shared).toBe(false);
    expect(() => scheduleFor("wgsl", { device: { class: "cpu", maxInvocationsPerWorkgroup: 32 } })).toThrow(
      /matmulWorkgroup 64 exceeds the device's 32 invocations/,
    );
  });

  it("compile output differs per class: no barriers or shared arrays in the cpu class's GEMM and row dot", () => {
    const p = trace(
      (a: Tensor, b: Tensor, w: Tensor) => [ops.matmul(a, b), ops.sum(ops.mul(a, w), -1)],
      spec([2048, 256]),
      spec([256, 512]),
      spec([2048, 256]),
    );
    const cpu = compile(p, { target: "wgsl", device: "cpu" });
    const gpu = compile(p, { target: "wgsl", device: "discrete" });
    const sources = (b: typeof cpu) => b.kernels.map((k) => k.source).join("\n");
    expect(sources(cpu)).not.toMatch(/workgroupBarrier|var<workgroup>/);
    expect(sources(gpu)).toMatch(/workgroupBarrier/);
    expect(compile(p, { target: "wgsl" }).kernels.map((k) => k.source)).toEqual(gpu.kernels.map((k) => k.source));
    const cuda = compile(p, { target: "cuda", device: "cpu" })
      .kernels.map((k) => k.source)
      .join("\n");
    expect(cuda).not.toMatch(/__syncthreads/);
  });

  it("candidate schedules are data: unique ids per class, each compiles", () => {
    const p = trace((a: Tensor, b: Tensor) => ops.sum(ops.matmul(a, b), -1), spec([9, 5]), spec([5, 20]));
    for (const [cls, candidates] of Object.entries(SCHEDULE_CANDIDATES)) {
      const ids = candidates.map((c) => c.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const kind of ["matmul", "skinnyMatmul", "reduce"])
        expect(candidates.some((c) => c.kind === kind)).toBe(true);
      for (const c of candidates) {
        // Tuning files store knobs as JSON, checked by the webgpu tuner's knob checker.
        expect(JSON.parse(JSON.stringify(c.knobs))).toEqual(c.knobs);
        expect(checkKnobs(c.knobs, c.id)).toEqual(c.knobs);
        expect(compile(p, { target: "wgsl", device: cls as "cpu", knobs: c.knobs }).kernels.length).toBeGreaterThan(0);
      }
    }
  });
});

describe("cpu-class kernels match the interpreter (JS target, GPU-shaped schedule)", () => {
  const runners = {
    "cpu class": compiledRunner({ like: "wgsl", device: "cpu" }),
    "cpu class, 4x8 tiles, 16-thread workgroups": compiledRunner({
      like: "wgsl",
      device: "cpu",
      knobs: { microM: 4, tileM: 4, matmulWorkgroup: 16, skinnyRows: 4, workgroupReduceMinLength: 40 },
    }),
  };
  for (const [name, runner] of Object.entries(runners))
    it(`${name}: GEMMs, batched, skinny, grouped (+ weight gradient), reductions; forward and gradient`, async () => {
      for (const c of scheduleCases()) {
        try {
          await runAndCompare(runner, c.program, c.inputs, 1e-4);
        } catch (e) {
          throw new Error(`${c.description}\n${(e as Error).message}`, { cause: e });
        }
      }
    });
});
