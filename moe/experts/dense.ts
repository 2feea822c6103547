/**
 * Deterministic experts: linear, FFN (linear-ReLU-linear) and SwiGLU
 * (Mixtral-style gated FFN). Parameters carry a leading expert axis E.
 */
import { matmul, mul, random, relu, silu, zeros, type Tensor } from "../../core";
import { MoeConfigError, checkInt, checkShape } from "../check";
import { affineDims, checkInitDims, initAffine, scaledNormal, type AffineExpertParams } from "./affine";
import { groupedLinear, type ExpertDims, type ExpertGroups, type ExpertInitDims, type Experts } from "./types";

function needHidden(dims: ExpertInitDims, where: string): number {
  if (dims.hidden === undefined)
    throw new MoeConfigError(`${where}.init: dims.hidden is missing; FFN-style experts need a hidden width`);
  return checkInt(dims.hidden, `${where}.init`, "dims.hidden");
}

/** Parameters of E affine experts: `w` [E, dIn, dOut], `b` [E, dOut]. */
export type LinearExpertParams = AffineExpertParams;

/**
 * Linear experts: expert e computes `y = x W_e + b_e`.
 * @example
 * const p = linearExperts.init(random.key(0), { numExperts: 4, dIn: 8, dOut: 8 });
 */
export const linearExperts: Experts<LinearExpertParams> = {
  name: "linearExperts",
  init: (key, dims, dtype = "f32") => initAffine(key, dims, dtype, "linearExperts"),
  dims: (p, where = "linearExperts") => affineDims(p.w, p.b, where),
  apply: (p, x, g) => groupedLinear(x, p.w, p.b, g),
};

/** Parameters of E FFN experts: `w1` [E, dIn, H], `b1` [E, H], `w2` [E, H, dOut], `b2` [E, dOut]. */
export interface FfnExpertParams {
  readonly w1: Tensor;
  readonly b1: Tensor;
  readonly w2: Tensor;
  readonly b2: Tensor;
}

/** The FFN expert applied to grouped rows (exported for upcycling and dense references). */
export function ffnApply(p: FfnExpertParams, x: Tensor, g: ExpertGroups): Tensor {
  return groupedLinear(relu(groupedLinear(x, p.w1, p.b1, g)), p.w2, p.b2, g);
}

/**
 * FFN experts (the Transformer feed-forward block, Shazeer et al. 2017; Fedus et al. 2021):
 * `y = ReLU(x W1_e + b1_e) W2_e + b2_e`.
 * @example
 * const p = ffnExperts.init(random.key(0), { numExperts: 4, dIn: 8, dOut: 8, hidden: 32 });
 */
export const ffnExperts: Experts<FfnExpertParams> = {
  name: "ffnExperts",
  init(key, dims, dtype = "f32") {
    checkInitDims(dims, "ffnExperts");
    const h = needHidden(dims, "ffnExperts");
    const [k1, k2] = random.split(key, 2);
    const E = dims.numExperts;
    return {
      w1: scaledNormal(k1!, [E, dims.dIn, h], dims.dIn, dtype),
      b1: zeros([E, h], dtype),
      w2: scaledNormal(k2!, [E, h, dims.dOut], h, dtype),
      b2: zeros([E, dims.dOut], dtype),
    };
  },
  dims(p, where = "ffnExperts"): ExpertDims {
    const n = new Map<string, number>();
    const [E, dIn, H] = checkShape(p.w1, ["E", "dIn", "H"], where, "w1", n);
    checkShape(p.b1, ["E", "H"], where, "b1", n);
    const dOut = checkShape(p.w2, ["E", "H", "dOut"], where, "w2", n)[2]!;
    checkShape(p.b2, ["E", "dOut"], where, "b2", n);
    return { numExperts: E!, dIn: dIn!, dOut, hidden: H! };
  },
  apply: ffnApply,
};

/** Parameters of E SwiGLU experts: `wGate`, `wUp` [E, dIn, H], `wDown` [E, H, dOut] (no biases, as in Mixtral). */
export interface SwigluExpertParams {
  readonly wGate: Tensor;
  readonly wUp: Tensor;
  readonly wDown: Tensor;
}

/**
 * SwiGLU experts (Shazeer 2020, "GLU Variants Improve Transformer"; used by
 * Mixtral, Jiang et al. 2024): `y = (SiLU(x Wgate_e) ⊙ (x Wup_e)) Wdown_e`.
 * @example
 * const p = swigluExperts.init(random.key(0), { numExperts: 8, dIn: 16, dOut: 16, hidden: 32 });
 */
export const swigluExperts: Experts<SwigluExpertParams> = {
  name: "swigluExperts",
  init(key, dims, dtype = "f32") {
    checkInitDims(dims, "swigluExperts");
    const h = needHidden(dims, "swigluExperts");
    const [k1, k2, k3] = random.split(key, 3);
    const E = dims.numExperts;
    return {
      wGate: scaledNormal(k1!, [E, dims.dIn, h], dims.dIn, dtype),
      wUp: scaledNormal(k2!, [E, dims.dIn, h], dims.dIn, dtype),
      wDown: scaledNormal(k3!, [E, h, dims.dOut], h, dtype),
    };
  },
  dims(p, where = "swigluExperts"): ExpertDims {
    const n = new Map<string, number>();
    const [E, dIn, H] = checkShape(p.wGate, ["E", "dIn", "H"], where, "wGate", n);
    checkShape(p.wUp, ["E", "dIn", "H"], where, "wUp", n);
    const dOut = checkShape(p.wDown, ["E", "H", "dOut"], where, "wDown", n)[2]!;
    return { numExperts: E!, dIn: dIn!, dOut, hidden: H! };
  },
  apply(p, x, g) {
    const gate = silu(groupedLinear(x, p.wGate, undefined, g));
    return groupedLinear(mul(gate, groupedLinear(x, p.wUp, undefined, g)), p.wDown, undefined, g);
  },
};

/** A dense (single) FFN `ReLU(x W1 + b1) W2 + b2`, e.g. the FFN that sparse upcycling starts from. */
export interface DenseFfnParams {
  readonly w1: Tensor;
  readonly b1: Tensor;
  readonly w2: Tensor;
  readonly b2: Tensor;
}

/**
 * Applies a dense FFN to `x` [..., dIn].
 * @example denseFfn({ w1, b1, w2, b2 }, x)
 */
export function denseFfn(p: DenseFfnParams, x: Tensor): Tensor {
  return matmul(relu(matmul(x, p.w1).add(p.b1)), p.w2).add(p.b2);
}
