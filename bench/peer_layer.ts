/**
 * The peers' benchmark layer, one function in every library: T tokens of
 * width D, a softmax router over E experts, top-K routing, ReLU experts
 * (D -> H -> D), output = sum of the K gate-weighted expert outputs;
 * loss = mean(out^2) + 0.01 * Switch aux, where aux = E * sum_e f_e * P_e
 * (f_e: fraction of the T*K routing slots sent to expert e; P_e: mean router
 * probability of e). fwd = the loss; fwd+bwd = the loss and the gradients of
 * all four parameters (x, router, w1, w2).
 *
 * moeforge runs it sparse (stable argsort dispatch, grouped GEMMs over expert
 * segments, scatter-add combine); jax-js and TensorFlow.js have no grouped
 * GEMM, so they run every expert on every token and mask the gates (the same
 * function: unselected experts get gate 0), E/K times the expert FLOPs.
 */
import { compile } from "../codegen/index";
import type { KernelBundle } from "../codegen/kernel_ir";
import { runBundle } from "../backends/cpu/runtime";
import {
  add,
  cast,
  matmul,
  mean,
  mul,
  raggedMatmul,
  relu,
  softmax,
  spec,
  square,
  sum,
  topK,
  trace,
  vjpProgram,
  type Program,
  type Tensor,
} from "../index";
import { mulberry32 } from "../testing/random_programs";
import { sparseDispatch } from "./moe_layer";

export interface PeerLayerConfig {
  readonly T: number;
  readonly D: number;
  readonly H: number;
  readonly E: number;
  readonly K: number;
}

/** The size: T=1024, D=256, H=512, E=8, top-2. */
export const PEER_LAYER: PeerLayerConfig = { T: 1024, D: 256, H: 512, E: 8, K: 2 };

/** Inputs (f32, row-major): x [T, D], router [D, E], w1 [E, D, H], w2 [E, H, D]. */
export interface PeerInputs {
  readonly x: Float32Array;
  readonly router: Float32Array;
  readonly w1: Float32Array;
  readonly w2: Float32Array;
}

/** A loss and the gradients of (x, router, w1, w2), as f64 numbers for comparing. */
export interface LossAndGrads {
  readonly loss: number;
  readonly grads?: readonly Float32Array[];
}

/** One library's implementation: fwd (loss) and fwd+bwd (loss + gradients). */
export interface PeerImpl {
  readonly name: string;
  forward(): Promise<LossAndGrads>;
  forwardBackward(): Promise<LossAndGrads>;
  /** Host (synchronous) time of each call so far, for implementations that measure it. */
  readonly hostMs?: { readonly forward: number[]; readonly forwardBackward: number[] };
  dispose?(): void;
}

/** Uniform inputs in [-s, s), weights scaled by 1/sqrt(fan-in). */
export function peerInputs(cfg: PeerLayerConfig, seed = 1): PeerInputs {
  const rng = mulberry32(seed);
  const u = (n: number, s: number) => Float32Array.from({ length: n }, () => (rng() * 2 - 1) * s);
  const { T, D, H, E } = cfg;
  return {
    x: u(T * D, 1),
    router: u(D * E, 1 / Math.sqrt(D)),
    w1: u(E * D * H, 1 / Math.sqrt(D)),
    w2: u(E * H * D, 1 / Math.sqrt(H)),
  };
}

/** The layer's loss in moeforge's public ops (sparse dispatch). */
export function moeforgeLoss(cfg: PeerLayerConfig, x: Tensor, router: Tensor, w1: Tensor, w2: Tensor): Tensor {
  const { T, E, K } = cfg;
  const probs = softmax(matmul(x, router)); // [T, E]
  const [gates, experts] = topK(probs, K); // [T, K]
  const { rows, groupSizes, combine } = sparseDispatch(x, gates, experts, E);
  const out = combine(raggedMatmul(relu(raggedMatmul(rows, w1, groupSizes)), w2, groupSizes));
  const fraction = mul(cast(groupSizes, "f32"), 1 / (T * K));
  const aux = mul(sum(mul(fraction, mean(probs, 0))), E);
  return add(mean(square(out)), mul(aux, 0.01));
}

/** The forward (loss) and gradient programs of the layer. */
export function moeforgePrograms(cfg: PeerLayerConfig): { loss: Program; gradient: Program } {
  const { T, D, H, E } = cfg;
  const loss = trace(
    (x: Tensor, r: Tensor, a: Tensor, b: Tensor) => moeforgeLoss(cfg, x, r, a, b),
    spec([T, D]),
    spec([D, E]),
    spec([E, D, H]),
    spec([E, H, D]),
  );
  return { loss, gradient: vjpProgram(loss) };
}

/** moeforge's cpu backend path on one target: the compiled bundles run directly. */
export function moeforgeImpl(cfg: PeerLayerConfig, inputs: PeerInputs, target: "js" | "wasm"): PeerImpl {
  const { loss, gradient } = moeforgePrograms(cfg);
  const fwd: KernelBundle = compile(loss, { target });
  const bwd: KernelBundle = compile(gradient, { target });
  const arrays = [inputs.x, inputs.router, inputs.w1, inputs.w2];
  const one = new Float32Array([1]);
  const fwdDims = new Map<string, number>(); // static shapes: no named dims
  return {
    name: `moeforge cpu (${target})`,
    forward: async () => ({ loss: runBundle(fwd, arrays, fwdDims)[0]![0]! }),
    forwardBackward: async () => {
      const outs = runBundle(bwd, [...arrays, one], fwdDims);
      return { loss: outs[0]![0]!, grads: outs.slice(1) as Float32Array[] };
    },
  };
}
