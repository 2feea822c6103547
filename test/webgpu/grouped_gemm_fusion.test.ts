/**
 * The fused grouped-GEMM kernels (test/codegen/grouped_gemm_fusion.test.ts) on
 * WebGPU: the SwiGLU and relu expert blocks traced with a symbolic token count,
 * one WGSL bundle each run at T = 1 and T = 45 (90 rows: two 64-row tiles, the
 * second a tail), skewed routing and empty experts, forward and gradient, equal
 * the interpreter. Sizes stay tiny: SwiftShader spends its time compiling pipelines.
 */
import { describe, it } from "vitest";
import { webgpuBackend } from "../../backends/webgpu/index";
import { runAndCompare } from "../../testing/random_programs";
import { blockInputs, blockPrograms, type Activation, type Routing } from "../codegen/grouped_gemm_cases";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();
const CFG = { T: 1, D: 5, H: 7, E: 4, K: 2 };
const onWebGPU = (p: Parameters<typeof webgpuBackend.run>[0], xs: Parameters<typeof webgpuBackend.run>[1]) =>
  webgpuBackend.run(p, xs);

describe.runIf(ctx)("webgpu: fused grouped GEMMs (expert blocks)", () => {
  for (const act of ["swiglu", "relu"] as const satisfies readonly Activation[]) {
    it(`${act} experts, symbolic T: forward and gradient at T = 1 and 45, skewed and empty routing`, async () => {
      const { forward, gradient } = blockPrograms(act, CFG, "T");
      for (const T of [1, 45])
        for (const routing of ["skewed", "empty"] as const satisfies readonly Routing[]) {
          const seed = T * 3 + routing.length;
          await runAndCompare(onWebGPU, forward, blockInputs(act, CFG, routing, T, seed, false), 1e-4);
          await runAndCompare(onWebGPU, gradient, blockInputs(act, CFG, routing, T, seed + 1, true), 1e-4);
        }
    }, 600_000);
  }
});
