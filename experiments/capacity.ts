/**
 * Experiment 4 — capacity factor and token dropping (Fedus et al. 2021;
 * Lepikhin et al. 2020). A top-1 MoE layer of 8 linear experts with a residual
 * path (`y = x + MoE(x)`, so a dropped token's output is its input) learns the
 * clustered token task with targets `x + A_k x`, under the Switch aux loss.
 * Each expert takes at most C = ceil(c·T/E) tokens per batch; we train with
 * c ∈ {1.0, 1.25, 2.0} and without a limit (dropless), and report the fraction
 * of tokens dropped and the task loss.
 */
import { mean, random, square, sub } from "../index";
import { adam, linearExperts, moeLayer, train } from "../moe";
import { clusterTask } from "./common/cluster_task";
import { round } from "./common/data";
import { progressFor, type ExperimentOptions } from "./experiment";
import type { PlotSpec } from "./svg";

const EXPERTS = 8;
const DIM = 4;
const FACTORS = [1.0, 1.25, 2.0] as const;
const SIZES = {
  full: { perCluster: 48, steps: 300, seeds: [3, 4, 5] },
  reduced: { perCluster: 16, steps: 100, seeds: [3] },
};

/** Trains one layer; `capacityFactor` undefined = dropless. */
function runFactor(capacityFactor: number | undefined, seed: number, opts: ExperimentOptions) {
  const size = SIZES[opts.size];
  const task = clusterTask({
    clusters: EXPERTS,
    perCluster: size.perCluster,
    dim: DIM,
    offset: 1,
    spread: 0.3,
    seed: 11,
    residualTarget: true,
  });
  const layer = moeLayer({
    numExperts: EXPERTS,
    gate: { type: "topK", k: 1, renormalize: false },
    experts: linearExperts,
    ...(capacityFactor !== undefined ? { capacityFactor } : {}),
    auxLossWeights: { switch: 0.1 },
    residual: true,
  });
  const drops: number[] = [];
  const { params } = train({
    params: layer.init(random.key(seed), { dModel: DIM }),
    optimizer: adam({ lr: 0.02 }),
    steps: size.steps,
    loss: (p) => {
      const { y, report } = layer.apply(p, task.x);
      return [mean(square(sub(y, task.y))).add(report.auxLoss), report.dropFraction] as const;
    },
    onStep: ({ aux }) => drops.push(aux!.item()),
    progress: progressFor(opts, `capacity ${capacityFactor ?? "dropless"} (seed ${seed})`),
  });
  const { y, report } = layer.apply(params, task.x);
  const tail = drops.slice(Math.floor(drops.length * 0.8));
  return {
    dropFractionDuringTraining: tail.reduce((a, b) => a + b, 0) / tail.length,
    finalDropFraction: report.dropFraction.item(),
    finalTaskLoss: mean(square(sub(y, task.y))).item(),
    dropCurve: drops,
  };
}

const average = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Trains each capacity setting (over the size's seeds) and reports drop fraction and task loss. */
export async function run(opts: ExperimentOptions): Promise<Record<string, unknown>> {
  const size = SIZES[opts.size];
  const settings = [...FACTORS, undefined];
  const rows = settings.map((c) => {
    const runs = size.seeds.map((seed) => runFactor(c, seed, opts));
    return {
      capacityFactor: c ?? "dropless",
      capacity: c === undefined ? null : Math.ceil((c * EXPERTS * size.perCluster) / EXPERTS),
      dropFraction: round(average(runs.map((r) => r.dropFractionDuringTraining))),
      finalDropFraction: round(average(runs.map((r) => r.finalDropFraction))),
      taskLoss: round(average(runs.map((r) => r.finalTaskLoss))),
      perSeedTaskLoss: runs.map((r) => round(r.finalTaskLoss)),
      dropCurve: runs[0]!.dropCurve.filter((_, i) => i % 5 === 0).map((d) => round(d)),
    };
  });
  return { experts: EXPERTS, tokens: EXPERTS * size.perCluster, steps: size.steps, seeds: size.seeds, results: rows };
}

/** Drop fraction and task loss per capacity factor. */
export function plotSpec(result: Record<string, unknown>): PlotSpec {
  const rows = result.results as { capacityFactor: number | string; dropFraction: number; taskLoss: number }[];
  return {
    kind: "bar",
    title: "Capacity factor: dropped tokens and task loss (top-1, Switch aux loss)",
    xLabel: "capacity factor c (C = ceil(c·T/E))",
    yLabel: "fraction / mean squared error",
    categories: rows.map((r) => String(r.capacityFactor)),
    series: [
      { name: "drop fraction", values: rows.map((r) => r.dropFraction) },
      { name: "task loss (MSE)", values: rows.map((r) => r.taskLoss) },
    ],
  };
}
