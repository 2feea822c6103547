/** The routing report an MoE layer returns beside its output: a pytree of tensors. */
import { add, cast, div, max, mean, mul, zeros, type FloatDType, type Tensor } from "../core";
import type { DispatchPlan } from "./dispatch";
import type { AnyGate, GateRouting } from "./gates/gate";
import { AUX_LOSS_NAMES, type AuxLossWeights } from "./layer_config";

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

/** The losses a gate supports, computed from its routing decision. */
export function gateLosses(gate: AnyGate, routing: GateRouting): MoeLosses {
  const out: { -readonly [K in keyof MoeLosses]: Tensor } = {};
  for (const name of AUX_LOSS_NAMES) {
    const loss = gate.losses[name];
    if (loss) out[name] = loss(routing);
  }
  return out;
}

/** Σ weight · loss over the configured weights. */
export function weightedAuxLoss(losses: MoeLosses, weights: AuxLossWeights, dtype: FloatDType): Tensor {
  let total: Tensor = zeros([], dtype);
  for (const name of AUX_LOSS_NAMES) {
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
