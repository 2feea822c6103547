/**
 * The fused MoE routing kernels (dispatch sort, gather-sum combines, their
 * gradients) on WebGPU against the interpreter: small layers (SwiftShader
 * compiles each pipeline slowly), skewed and empty-expert routing, a T that
 * is a multiple of no tile.
 */
import { describe, it } from "vitest";
import { webgpuBackend } from "../../backends/webgpu/index";
import { benchCase, dispatchCase, routingInputs, routingPrograms } from "../../testing/moe_routing_cases";
import { runAndCompare } from "../../testing/random_programs";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();
const onWebGPU = (p: Parameters<typeof webgpuBackend.run>[0], xs: Parameters<typeof webgpuBackend.run>[1]) =>
  webgpuBackend.run(p, xs);

describe.runIf(ctx)("webgpu: fused MoE routing equals the interpreter", () => {
  const cases = [
    { c: benchCase({ T: 0, D: 6, H: 5, E: 6, K: 2 }), T: 13, routing: "skewed" as const },
    { c: dispatchCase({ T: 0, D: 6, H: 5, E: 4, K: 2 }), T: 9, routing: "empty" as const },
  ];
  for (const { c, T, routing } of cases) {
    it(`${c.name}, T = ${T}, ${routing} routing: forward and gradient`, async () => {
      const { forward, gradient } = routingPrograms(c, T);
      await runAndCompare(onWebGPU, forward, routingInputs(c, T, routing, 3, false));
      await runAndCompare(onWebGPU, gradient, routingInputs(c, T, routing, 4, true));
    }, 600_000);
  }
});
