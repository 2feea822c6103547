/**
 * Routing decisions. A gate maps tokens to experts and produces one of two
 * shapes of decision: token choice (each token picks k experts) or expert
 * choice (each expert picks c tokens). The dispatch plan turns either into
 * expert-sorted rows for the grouped expert GEMMs.
 */
import { matmul, type Dim, type FloatDType, type Tensor } from "../../core";
import { MoeConfigError, checkInt, checkShape, checkTokenShape } from "../check";
import { scaledNormal } from "../experts/affine";

/** A linear router: `w` [D, E]; router logits are `x W`. */
export interface RouterParams {
  readonly w: Tensor;
}

/** Token choice: token t sends its input to experts `experts[t, :]` with weights `weights[t, :]`. */
export interface TokenChoice {
  readonly kind: "tokenChoice";
  readonly numExperts: number;
  /** i32 [T, k]: the chosen experts, best first. */
  readonly experts: Tensor;
  /** [T, k]: combine weights of the chosen experts (differentiable). */
  readonly weights: Tensor;
  /** bool [T, k]: false where an assignment was not made (GShard's unsampled second expert); absent = all made. */
  readonly mask?: Tensor;
  /** [T, E]: router logits (absent for router-free gates such as hash routing). */
  readonly logits?: Tensor;
  /** [T, E]: router probabilities softmax(logits), used by the balancing losses. */
  readonly probs?: Tensor;
  /** Noisy gating terms for Shazeer's load loss: clean logits, noisy logits, noise scale (all [T, E]). */
  readonly noise?: { readonly clean: Tensor; readonly noisy: Tensor; readonly std: Tensor };
}

/** Expert choice: expert e processes tokens `tokens[e, :]` with weights `weights[e, :]`. */
export interface ExpertChoice {
  readonly kind: "expertChoice";
  readonly numExperts: number;
  /** i32 [E, c]: the tokens each expert picked, best first. */
  readonly tokens: Tensor;
  /** [E, c]: combine weights (the router probabilities of the picked tokens). */
  readonly weights: Tensor;
  readonly logits: Tensor;
  readonly probs: Tensor;
}

/** Any routing decision the dispatch understands. */
export type Routing = TokenChoice | ExpertChoice;

/**
 * Checks a router against tokens `x` [T, D] and returns [T, D, E].
 * @internal
 */
export function routerDims(w: unknown, x: Tensor, where: string, what = "router weight"): [Dim, number, number] {
  const n = new Map<string, Dim>();
  const [T, D] = checkTokenShape(x, [null, "D"], where, "x [T, D]", n);
  const E = checkShape(w, ["D", null], where, `${what} [D, E]`, n)[1]!;
  return [T!, D as number, E];
}

/** Router logits `x W` [T, E] after checking shapes. */
export function routerLogits(router: RouterParams, x: Tensor, where: string): Tensor {
  if (router === null || typeof router !== "object")
    throw new MoeConfigError(`${where}: router params must be an object { w }, got ${String(router)}`);
  routerDims(router.w, x, where);
  return matmul(x, router.w);
}

/** Checks 1 <= k <= E. */
export function checkK(k: unknown, numExperts: number, where: string): number {
  checkInt(k, where, "k");
  if ((k as number) > numExperts) {
    throw new MoeConfigError(
      `${where}: k = ${String(k)} exceeds the number of experts E = ${numExperts}; expected 1 <= k <= E`,
    );
  }
  return k as number;
}

/**
 * A fresh router `w` [dModel, E] ~ N(0, 1/dModel).
 * @example const router = initRouter(random.key(0), 16, 8);
 */
export function initRouter(key: Tensor, dModel: number, numExperts: number, dtype: FloatDType = "f32"): RouterParams {
  checkInt(dModel, "initRouter", "dModel");
  checkInt(numExperts, "initRouter", "numExperts");
  return { w: scaledNormal(key, [dModel, numExperts], dModel, dtype) };
}
