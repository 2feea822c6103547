/** The routing report an MoE layer returns beside its output: a pytree of tensors. */
import { add, cast, div, max, mean, mul, zeros, type FloatDType, type Tensor } from "../core";
import type { DispatchPlan } from "./dispatch";
import type { Routing } from "./gates/types";
import type { AuxLossWeights } from "./layer_config";
import { gateMatrix, importanceLoss, loadLoss, routerZLoss, switchLoss } from "./losses";

/** Auxiliary losses available for the gate used (absent = not defined for it). */
export interface MoeLosses {
  readonly switch?: Tensor;
  readonly importance?: Tensor;
  readonly load?: Tensor;
  readonly zLoss?: Tensor;
}

/** What an MoE layer reports about its routing. All leaves are tensors, so it passes through grad's `hasAux` and jit. */
export interface MoeReport {
  /** i32 [E]: assignments routed to each expert (before capacity dropping). */
  readonly expertCounts: Tensor;
  /** [E]: each expert's share of the assignments (sums to 1). */
  readonly expertLoad: Tensor;
  /** Scalar: max load / mean load (1 = perfectly balanced, E = all on one expert). */
  readonly maxLoadRatio: Tensor;
  /** Scalar: fraction of assignments dropped for capacity (expert choice: tokens no expert picked). */
  readonly dropFraction: Tensor;
  readonly losses: MoeLosses;
  /** Scalar: Σ auxLossWeights[name] · losses[name]; add it to the task loss. */
  readonly auxLoss: Tensor;
}

/** The losses a routing decision supports. */
export function routingLosses(routing: Routing): MoeLosses {
  const out: { -readonly [K in keyof MoeLosses]: Tensor } = {};
  if (routing.kind === "tokenChoice" && routing.probs) {
    out.switch = switchLoss(routing.probs, routing.experts, routing.mask);
    out.importance = importanceLoss(gateMatrix(routing));
  }
  if (routing.kind === "tokenChoice" && routing.noise)
    out.load = loadLoss(routing.noise, routing.experts.shape[1] as number);
  if (routing.logits) out.zLoss = routerZLoss(routing.logits);
  return out;
}

/** Σ weight · loss over the configured weights. */
export function weightedAuxLoss(losses: MoeLosses, weights: AuxLossWeights, dtype: FloatDType): Tensor {
  let total: Tensor = zeros([], dtype);
  for (const name of ["switch", "importance", "load", "zLoss"] as const) {
    const w = weights[name];
    const l = losses[name];
    if (w && l) total = add(total, mul(l, w));
  }
  return total;
}

/** Builds the report from a plan, the losses and the loss weights. */
export function buildReport(
  plan: Pick<DispatchPlan, "expertCounts" | "dropFraction">,
  losses: MoeLosses,
  weights: AuxLossWeights,
  dtype: FloatDType,
): MoeReport {
  const counts = cast(plan.expertCounts, dtype);
  const total = counts.sum();
  return {
    expertCounts: plan.expertCounts,
    expertLoad: div(counts, total),
    maxLoadRatio: div(max(counts), mean(counts)),
    dropFraction: plan.dropFraction,
    losses,
    auxLoss: weightedAuxLoss(losses, weights, dtype),
  };
}
