/**
 * Router fusion (codegen/passes/router_fusion.ts) on WebGPU: the renormalised
 * top-k gate with the Switch aux loss (its [T, k] softmax a sibling row in the
 * router's row kernel) and the k = 1 renormalised gate alone (one kernel) give
 * the interpreter's values, forward and gradient, in the bundles compiled for
 * this adapter, whose kernel counts say the fusion happened. Small sizes:
 * SwiftShader compiles every pipeline on the CPU.
 */
import { describe, expect, it } from "vitest";
import { vjpProgram } from "../../autodiff/vjp";
import { webgpuBackend, webgpuExecutable } from "../../backends/webgpu/index";
import { add, mul, spec, square, sum, trace, type Tensor } from "../../index";
import { topKGate } from "../../moe/gates/topk";
import { switchLoss } from "../../moe/losses";
import { mulberry32, randomFloats, runAndCompare } from "../../testing/random_programs";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();
const onWebGPU = (p: Parameters<typeof webgpuBackend.run>[0], xs: Parameters<typeof webgpuBackend.run>[1]) =>
  webgpuBackend.run(p, xs);

const gate = (k: number, aux: boolean) => (x: Tensor, w: Tensor) => {
  const r = topKGate({ w }, x, { k });
  return aux ? [r.weights, r.experts, switchLoss(r.probs!, r.experts)] : [r.weights, r.experts];
};
const loss = (k: number) => (x: Tensor, w: Tensor) => {
  const [weights, , aux] = gate(k, true)(x, w);
  return add(mul(sum(square(weights!)), 0.5), aux!);
};

describe.runIf(ctx)("webgpu: fused routers equal the interpreter", () => {
  it("renormalised gate + Switch aux loss (k = 1, 2; T = 33): 4 kernels forward, the interpreter's values", async () => {
    const rng = mulberry32(31);
    for (const k of [1, 2]) {
      const forward = trace(gate(k, true), spec([33, 12]), spec([12, 8]));
      const gradient = vjpProgram(trace(loss(k), spec([33, 12]), spec([12, 8])));
      const xs = [randomFloats(rng, "f32", [33, 12]), randomFloats(rng, "f32", [12, 8])];
      await runAndCompare(onWebGPU, forward, xs);
      await runAndCompare(onWebGPU, gradient, [...xs, randomFloats(rng, "f32", [])]);
      expect(webgpuExecutable(forward, ctx!).bundle.kernels, `k = ${k}`).toHaveLength(4);
    }
  }, 120_000);

  it("the k = 1 renormalised gate alone: one kernel, the interpreter's values (T = 1, 33)", async () => {
    const rng = mulberry32(37);
    for (const T of [1, 33]) {
      const forward = trace(gate(1, false), spec([T, 12]), spec([12, 8]));
      await runAndCompare(onWebGPU, forward, [randomFloats(rng, "f32", [T, 12]), randomFloats(rng, "f32", [12, 8])]);
      expect(webgpuExecutable(forward, ctx!).bundle.kernels, `T = ${T}`).toHaveLength(1);
    }
  }, 120_000);
});
