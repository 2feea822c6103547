/**
 * Capacity-factor dispatch on the fused routing path (codegen/passes/capacity_dispatch.ts) on
 * WebGPU against the interpreter: a small moe/dispatch.ts layer with capacity factor 1.25,
 * skewed routing (one expert overflows: assignments dropped) and a symbolic T run at T = 1 and 9
 * with empty experts, forward and gradient (SwiftShader compiles each pipeline slowly: small sizes).
 */
import { describe, it } from "vitest";
import { webgpuBackend } from "../../backends/webgpu/index";
import { dispatchCase, routingInputs, routingPrograms } from "../../testing/moe_routing_cases";
import { runAndCompare } from "../../testing/random_programs";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();
const onWebGPU = (p: Parameters<typeof webgpuBackend.run>[0], xs: Parameters<typeof webgpuBackend.run>[1]) =>
  webgpuBackend.run(p, xs);

describe.runIf(ctx)("webgpu: capacity dispatch equals the interpreter", () => {
  const c = dispatchCase({ T: 0, D: 6, H: 5, E: 4, K: 2 }, 1.25);
  it("T = 13, skewed routing (drops): forward and gradient", async () => {
    const { forward, gradient } = routingPrograms(c, 13);
    await runAndCompare(onWebGPU, forward, routingInputs(c, 13, "skewed", 21, false));
    await runAndCompare(onWebGPU, gradient, routingInputs(c, 13, "skewed", 22, true));
  }, 600_000);
  it("symbolic T at T = 1 (random) and 9 (empty experts): forward and gradient", async () => {
    const { forward, gradient } = routingPrograms(c, "T");
    for (const [T, routing] of [
      [1, "random"],
      [9, "empty"],
    ] as const) {
      await runAndCompare(onWebGPU, forward, routingInputs(c, T, routing, 23 + T, false));
      await runAndCompare(onWebGPU, gradient, routingInputs(c, T, routing, 24 + T, true));
    }
  }, 600_000);
});
