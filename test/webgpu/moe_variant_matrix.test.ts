/**
 * Issue #17's coverage matrix (test/moe/variant_matrix.ts) on WebGPU (Dawn in
 * Node; SwiftShader in CI): each covered MoE variant's forward ([y, loss]) and
 * gradient (for x and every parameter) equal the interpreter to 1e-4 in
 * relative 2-norm at T = 1, skewed routing and empty experts at token counts
 * that are a multiple of no tile, and the bundles that ran take the variant's
 * lowering path. The variants are small: SwiftShader compiles every pipeline
 * on the CPU (about 3 s a bundle), which is most of this file's time.
 */
import { describe, expect, it } from "vitest";
import { webgpuBackend, webgpuExecutable } from "../../backends/webgpu/index";
import { runAndCompare } from "../../testing/random_programs";
import {
  BIG_CASES,
  CASES,
  VARIANTS,
  expectCaseMatches,
  kernelNames,
  matrix,
  pathMismatch,
  variantInputs,
  variantPrograms,
} from "../moe/variant_matrix";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();
const onWebGPU = (p: Parameters<typeof webgpuBackend.run>[0], xs: Parameters<typeof webgpuBackend.run>[1]) =>
  webgpuBackend.run(p, xs);

describe.runIf(ctx)("webgpu: the MoE variant matrix equals the interpreter", () => {
  for (const v of VARIANTS) {
    it(`${v.name}: ${CASES.map((c) => `T = ${c.T} ${c.routing}`).join(", ")}`, async () => {
      for (const c of matrix([v])) {
        const programs = variantPrograms(v, c.T);
        await expectCaseMatches(c, programs, onWebGPU, "webgpu");
        // The bundles that ran (compiled for this adapter's device profile).
        const bundle = (p: typeof programs.forward) => webgpuExecutable(p, ctx).bundle;
        expect(pathMismatch(v, c.T, bundle(programs.forward), bundle(programs.gradient)), `T = ${c.T}`).toBeUndefined();
      }
    }, 300_000);
  }

  // The forward only: SwiGLU on SwiftShader takes ~10 s for it and ~18 s more for the gradient, which
  // the cpu backend checks (test/moe/variant_matrix_cpu.test.ts). What WebGPU adds at this size:
  // launches of more than 65535 workgroups (folded by foldGrid) and WGSL's i32/u32 index arithmetic.
  for (const c of BIG_CASES) {
    it(`T·k·D > 2^24, forward: ${c.variant.name}, T = ${c.T}`, async () => {
      const { forward } = variantPrograms(c.variant, c.T);
      await runAndCompare(onWebGPU, forward, variantInputs(c, false));
      const names = kernelNames(webgpuExecutable(forward, ctx).bundle);
      expect(names).toContain("dispatch_sort");
      expect(names.filter((n) => n === "ragged_matmul")).toHaveLength(2);
    }, 300_000);
  }
});
