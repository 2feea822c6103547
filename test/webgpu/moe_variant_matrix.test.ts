/**
 * Issue #17's coverage matrix (test/moe/variant_matrix.ts) on WebGPU (Dawn in
 * Node; SwiftShader in CI): each covered MoE variant's forward ([y, loss]) and
 * gradient (for x and every parameter) equal the interpreter to 1e-4 in
 * relative 2-norm at T = 1, skewed routing and empty experts at token counts
 * that are a multiple of no tile, and the WGSL bundles take the variant's
 * lowering path. The variants are small: SwiftShader compiles every pipeline
 * on the CPU, which is most of this file's time.
 */
import { describe, expect, it } from "vitest";
import { webgpuBackend } from "../../backends/webgpu/index";
import { compile } from "../../codegen/compile";
import { CASES, VARIANTS, expectCaseMatches, matrix, pathMismatch, variantPrograms } from "../moe/variant_matrix";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();
const onWebGPU = (p: Parameters<typeof webgpuBackend.run>[0], xs: Parameters<typeof webgpuBackend.run>[1]) =>
  webgpuBackend.run(p, xs);

describe.runIf(ctx)("webgpu: the MoE variant matrix equals the interpreter", () => {
  for (const v of VARIANTS) {
    it(`${v.name}: ${CASES.map((c) => `T = ${c.T} ${c.routing}`).join(", ")}`, async () => {
      for (const c of matrix([v])) {
        const programs = variantPrograms(v, c.T);
        const { forward, gradient } = programs;
        const wgsl = (p: typeof forward) => compile(p, { target: "wgsl" });
        expect(pathMismatch(v, c.T, wgsl(forward), wgsl(gradient)), `T = ${c.T}`).toBeUndefined();
        await expectCaseMatches(c, programs, onWebGPU, "webgpu");
      }
    }, 300_000);
  }
});
