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
import {
  BIG_CASES,
  CASES,
  VARIANTS,
  expectCaseMatches,
  kernelNames,
  matrix,
  pathMismatch,
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

  // Forward and gradient at T·k·D > 2^24 (about 25 s on SwiftShader: 10 s forward, 15 s gradient).
  // What WebGPU adds at this size: launches of more than 65535 workgroups (folded by foldGrid) and
  // WGSL's i32/u32 index arithmetic, in the forward's gather and the backward's scatters and wgrads.
  for (const c of BIG_CASES) {
    it(`T·k·D > 2^24, forward and gradient: ${c.variant.name}, T = ${c.T}`, async () => {
      const k = "k" in c.variant.config.gate ? c.variant.config.gate.k : 1;
      expect(c.T * k * c.variant.D).toBeGreaterThan(2 ** 24);
      const programs = variantPrograms(c.variant, c.T);
      await expectCaseMatches(c, programs, onWebGPU, "webgpu");
      const bundle = (p: typeof programs.forward) => webgpuExecutable(p, ctx).bundle;
      expect(pathMismatch(c.variant, c.T, bundle(programs.forward), bundle(programs.gradient))).toBeUndefined();
      expect(kernelNames(bundle(programs.forward))).toContain("dispatch_sort");
    }, 300_000);
  }
});
