/**
 * Issue #17's coverage matrix (test/moe/variant_matrix.ts) on the cpu backend
 * (wasm where SIMD validates): each covered MoE variant's forward ([y, loss])
 * and gradient (of the loss, for x and every parameter) equal the interpreter
 * to 1e-4 in relative 2-norm at T = 1, skewed routing, empty experts and token
 * counts that are a multiple of no tile, and the bundles take the variant's
 * lowering path; the same programs through the GPU lowering with small tiles
 * (the JS target, GPU-shaped schedule); one layer with T·k·D > 2^24. The routing cases are checked to route as they claim.
 */
import { describe, expect, it } from "vitest";
import { cpuBundle } from "../../backends/cpu/backend";
import { cpuTarget } from "../../backends/cpu/target";
import { gpuShapedOnJs, onCpu } from "../codegen/runners";
import {
  BIG_CASES,
  CASES,
  VARIANTS,
  expectCaseMatches,
  matrix,
  pathMismatch,
  routingCounts,
  variantPrograms,
} from "./variant_matrix";

describe(`MoE variant matrix on the cpu backend (${cpuTarget().target})`, () => {
  for (const v of VARIANTS) {
    it(`${v.name}: ${CASES.map((c) => `T = ${c.T} ${c.routing}`).join(", ")}`, async () => {
      for (const c of matrix([v])) {
        const programs = variantPrograms(v, c.T);
        const { forward, gradient } = programs;
        expect(pathMismatch(v, c.T, cpuBundle(forward), cpuBundle(gradient)), `T = ${c.T}`).toBeUndefined();
        await expectCaseMatches(c, programs, onCpu, "cpu");
        // The GPU lowering (shared-memory tiles, tree reductions, the router row kernel) with small
        // tiles, so that T = 33 and 67 span several tiles and a tail on the CPU too.
        await expectCaseMatches(c, programs, gpuShapedOnJs, "js, GPU-shaped schedule");
      }
    }, 120_000);
  }

  for (const c of BIG_CASES) {
    it(`T·k·D > 2^24: ${c.variant.name}, T = ${c.T}, ${c.routing} routing`, async () => {
      const k = "k" in c.variant.config.gate ? c.variant.config.gate.k : 1;
      expect(c.T * k * c.variant.D).toBeGreaterThan(2 ** 24);
      const programs = variantPrograms(c.variant, c.T);
      expect(pathMismatch(c.variant, c.T, cpuBundle(programs.forward), cpuBundle(programs.gradient))).toBeUndefined();
      await expectCaseMatches(c, programs, onCpu, "cpu");
    }, 300_000);
  }

  it("the routing cases route as they claim: skewed > 90% of tokens on expert 0 (dropping with a capacity), empty leaves an expert unused", () => {
    for (const c of matrix()) {
      if (c.routing === "random") continue;
      const { perExpert, dropFraction } = routingCounts(c);
      const what = `${c.variant.name}, T = ${c.T}, ${c.routing}: tokens per expert ${perExpert.join(" ")}, dropped ${dropFraction}`;
      if (c.routing === "skewed") expect(perExpert[0], what).toBeGreaterThan(0.9 * c.T);
      else expect(perExpert.filter((n) => n === 0).length, what).toBeGreaterThanOrEqual(1);
      if (c.routing === "skewed" && c.variant.config.capacityFactor !== undefined)
        expect(dropFraction, what).toBeGreaterThan(0);
    }
  });
});
