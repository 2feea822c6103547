/**
 * MoE layers for the routing-lowering tests (dispatch sort, combine, their
 * gradients): the benchmark layer (token-major slots, bench/moe_layer.ts) at
 * any k, and layers written with moe/dispatch.ts (choice-major slots,
 * dropless or with a capacity), with inputs whose routing is random, skewed
 * (one expert takes > 90% of the tokens) or leaves experts empty.
 */
import { moeLayer as benchLayer, type MoeConfig } from "../bench/moe_layer";
import { vjpProgram } from "../autodiff/vjp";
import { matmul, mul, raggedMatmul, relu, softmax, spec, square, sum, tensor, topK, trace } from "../core";
import type { Dim } from "../dsl/dims";
import type { Program } from "../dsl/program";
import type { Tensor } from "../dsl/tensor";
import { combineRows, dispatchRows, expertCapacity, planTokenChoice } from "../moe/dispatch";
import { mulberry32 } from "./random_programs";

export type Routing = "random" | "skewed" | "empty";

export interface RoutingCase {
  readonly name: string;
  readonly cfg: MoeConfig;
  /** The layer as a function of (x [T, D], router [D, E], w... ). */
  readonly layer: (x: Tensor, ...w: Tensor[]) => Tensor;
  /** Expert weight shapes after the router. */
  readonly weightShapes: readonly (readonly number[])[];
}

/** The benchmark layer (SwiGLU experts, token-major slots, dropless). */
export function benchCase(cfg: MoeConfig): RoutingCase {
  const { D, H, E } = cfg;
  return {
    name: `bench layer E=${E} k=${cfg.K}`,
    cfg,
    layer: (x, r, wg, wu, wd) => benchLayer(cfg, x, r!, wg!, wu!, wd!),
    weightShapes: [
      [E, D, H],
      [E, D, H],
      [E, H, D],
    ],
  };
}

/** A ReLU-expert layer through moe/dispatch.ts (choice-major slots): dropless, or with a capacity factor. */
export function dispatchCase(cfg: MoeConfig, capacityFactor?: number): RoutingCase {
  const { D, H, E, K } = cfg;
  const layer = (x: Tensor, r: Tensor, w1: Tensor, w2: Tensor) => {
    const [weights, experts] = topK(softmax(matmul(x, r)), K);
    const T = x.shape[0]!;
    const capacity = capacityFactor === undefined ? undefined : expertCapacity(capacityFactor, K, T, E);
    const plan = planTokenChoice(
      { kind: "tokenChoice", numExperts: E, experts, weights } as Parameters<typeof planTokenChoice>[0],
      capacity === undefined ? {} : { capacity },
    );
    const rows = dispatchRows(x, plan);
    const hidden = relu(raggedMatmul(rows, w1, plan.groups.sizes));
    return combineRows(raggedMatmul(hidden, w2, plan.groups.sizes), plan);
  };
  return {
    name: `moe/dispatch ${capacityFactor === undefined ? "dropless" : `capacity ${capacityFactor}`} E=${E} k=${K}`,
    cfg,
    layer: (x, r, w1, w2) => layer(x, r!, w1!, w2!),
    weightShapes: [
      [E, D, H],
      [E, H, D],
    ],
  };
}

/** Forward program and the gradient program of sum(y^2) / 2, traced at token count T (a size or a name). */
export function routingPrograms(c: RoutingCase, T: Dim): { forward: Program; gradient: Program } {
  const { D, E } = c.cfg;
  const specs = [spec([T, D]), spec([D, E]), ...c.weightShapes.map((s) => spec([...s]))];
  const f = (...a: Tensor[]) => c.layer(a[0]!, ...a.slice(1));
  const forward = trace(f, ...specs);
  const loss = trace((...a: Tensor[]) => mul(sum(square(f(...a))), 0.5), ...specs);
  return { forward, gradient: vjpProgram(loss) };
}

function floats(rng: () => number, shape: readonly number[], scale: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  // Non-zero everywhere: uniform in +-[0.1, 1] * scale.
  const data = Float32Array.from({ length: n }, () => (0.1 + 0.9 * rng()) * (rng() < 0.5 ? -1 : 1) * scale);
  return tensor(data, [...shape]);
}

/**
 * Inputs at T tokens. `skewed`: feature 0 of every token is 1 and the router
 * weights of feature 0 favour expert 0 strongly, so every token picks it;
 * `empty`: the last half of the experts are never picked. `gradient` appends
 * the loss cotangent.
 */
export function routingInputs(c: RoutingCase, T: number, routing: Routing, seed: number, gradient: boolean): Tensor[] {
  const { D, E } = c.cfg;
  const rng = mulberry32(seed);
  const x = floats(rng, [T, D], 1);
  const router = floats(rng, [D, E], 1 / Math.sqrt(D));
  if (routing !== "random") {
    const xd = x._value().data as Float32Array;
    for (let t = 0; t < T; t++) xd[t * D] = 1;
    const rd = router._value().data as Float32Array;
    for (let e = 0; e < E; e++) {
      if (routing === "skewed") rd[e] = e === 0 ? 20 : 0;
      else rd[e] = e >= Math.ceil(E / 2) ? -20 : 0;
    }
  }
  const weights = c.weightShapes.map((s) => floats(rng, s, 1 / Math.sqrt(s[1]!)));
  const inputs = [x, router, ...weights];
  return gradient ? [...inputs, tensor(0.5 + rng(), [])] : inputs;
}
