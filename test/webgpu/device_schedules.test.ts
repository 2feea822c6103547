/**
 * Device classes on WebGPU (#17): the backend derives the `cpu` class from
 * SwiftShader's adapter info (and other CPU adapters' names, or a fallback
 * adapter) and compiles the register-tiled / skinny / thread-per-row schedule
 * for it, which matches the interpreter on the device, forward and gradient
 * (tiny sizes: SwiftShader). A forced `deviceClass: "discrete"` compiles the
 * shared-memory schedule instead (which the other suites run on real GPUs).
 */
import { describe, expect, it } from "vitest";
import { runOnWebGPU, webgpuExecutable } from "../../backends/webgpu/backend";
import { deviceProfileOfAdapter } from "../../backends/webgpu/device_profile";
import { spec, trace } from "../../dsl/api";
import * as ops from "../../dsl/ops";
import type { Tensor } from "../../dsl/tensor";
import { runAndCompare } from "../../testing/random_programs";
import { scheduleCases } from "../../testing/schedule_cases";
import { separateWebGPUForTests, webgpuForTests } from "./test_device";

describe("device class of an adapter", () => {
  it("CPU implementations and fallback adapters are the cpu class; GPUs discrete or integrated", () => {
    expect(
      deviceProfileOfAdapter({ vendor: "google", architecture: "swiftshader", subgroupMinSize: 4, subgroupMaxSize: 4 }),
    ).toEqual({
      class: "cpu",
      workgroupMemory: "slow",
      subgroupSize: 4,
    });
    expect(deviceProfileOfAdapter({ vendor: "mesa", description: "llvmpipe (LLVM 15.0.6, 256 bits)" }).class).toBe(
      "cpu",
    );
    expect(deviceProfileOfAdapter({ vendor: "microsoft", description: "Microsoft Basic Render Driver" }).class).toBe(
      "cpu",
    );
    expect(deviceProfileOfAdapter({ vendor: "unknown", isFallbackAdapter: true }).class).toBe("cpu");
    expect(
      deviceProfileOfAdapter({ vendor: "nvidia", architecture: "hopper", subgroupMinSize: 32, subgroupMaxSize: 32 }),
    ).toEqual({
      class: "discrete",
      workgroupMemory: "fast",
      subgroupSize: 32,
    });
    expect(deviceProfileOfAdapter({ vendor: "intel", architecture: "gen-12lp", type: "integrated GPU" }).class).toBe(
      "integrated",
    );
    expect(
      deviceProfileOfAdapter({ vendor: "apple", subgroupMinSize: 4, subgroupMaxSize: 64 }).subgroupSize,
    ).toBeUndefined();
  });
});

const ctx = await webgpuForTests();
const discrete = ctx && (await separateWebGPUForTests({ deviceClass: "discrete" }));

describe.runIf(ctx && discrete)("schedules per device class on WebGPU", () => {
  it("SwiftShader's adapter gives the cpu class, and the backend compiles its schedule (no barriers in the GEMM)", () => {
    expect(ctx!.adapterName).toMatch(/swiftshader/i); // this suite's device (scripts/test.sh); others: update the test
    expect(ctx!.deviceProfile).toMatchObject({ class: "cpu", workgroupMemory: "slow" });
    expect(discrete!.deviceProfile.class).toBe("discrete");
    const p = trace((a: Tensor, b: Tensor) => ops.matmul(a, b), spec([64, 32]), spec([32, 64]));
    const cpuSource = webgpuExecutable(p, ctx!)
      .bundle.kernels.map((k) => k.source)
      .join("\n");
    const gpuSource = webgpuExecutable(p, discrete!)
      .bundle.kernels.map((k) => k.source)
      .join("\n");
    expect(cpuSource).not.toMatch(/workgroupBarrier/);
    expect(gpuSource).toMatch(/workgroupBarrier/);
  });

  it("the cpu-class schedule matches the interpreter on the device: GEMMs, skinny, grouped (+ weight grad), reductions, fwd/grad", async () => {
    for (const k of scheduleCases({ tiny: true })) {
      try {
        await runAndCompare((p, xs) => runOnWebGPU(ctx!, p, xs), k.program, k.inputs, 1e-4);
      } catch (e) {
        throw new Error(`${k.description}\n${(e as Error).message}`, { cause: e });
      }
    }
  });
});
