/**
 * Experiment 3 — load balance of top-1 routing (Fedus et al. 2021; Wang et al. 2024).
 * A top-1 MoE layer of 8 linear experts learns a token task with 8 clusters
 * (each its own linear map; all tokens share a common offset, so the untrained
 * router is badly unbalanced). Three runs from the same initialisation:
 * no balancing, the Switch auxiliary loss α·E·Σ f_e P_e, and the
 * auxiliary-loss-free bias (a per-expert selection bias nudged by
 * sign(mean load - load) after every step, no gradient). We record the
 * max-load/mean-load ratio, the Switch loss value and the task loss over training.
 */
import { mean, random, square, sub, zeros, type Tensor } from "../index";
import { adam, linearExperts, lossFreeBiasUpdate, moeLayer, train, type MoeReport } from "../moe";
import { clusterTask } from "./common/cluster_task";
import { round } from "./common/data";
import { progressFor, type ExperimentOptions } from "./experiment";
import type { PlotSpec } from "./svg";

const EXPERTS = 8;
const DIM = 4;
const SIZES = {
  full: { perCluster: 48, steps: 400, every: 10, seeds: [3, 4, 5] },
  reduced: { perCluster: 16, steps: 120, every: 10, seeds: [3] },
};
const SWITCH_ALPHA = 0.1;
const BIAS_RATE = 0.01;

type Variant = "none" | "switch" | "lossFree";
const VARIANTS: readonly Variant[] = ["none", "switch", "lossFree"];

interface Curve {
  step: number;
  maxLoadRatio: number;
  switchLoss: number;
  taskLoss: number;
}

function runVariant(variant: Variant, seed: number, opts: ExperimentOptions) {
  const size = SIZES[opts.size];
  const task = clusterTask({
    clusters: EXPERTS,
    perCluster: size.perCluster,
    dim: DIM,
    offset: 3,
    spread: 0.3,
    seed: 7,
  });
  const layer = moeLayer({
    numExperts: EXPERTS,
    gate: { type: "topK", k: 1, renormalize: false },
    experts: linearExperts,
    auxLossWeights: variant === "switch" ? { switch: SWITCH_ALPHA } : {},
  });
  const init = layer.init(random.key(seed), { dModel: DIM });
  let bias: Tensor = zeros([EXPERTS]);
  const curve: Curve[] = [];
  const ratios: number[] = [];
  const { params, losses } = train({
    params: init,
    optimizer: adam({ lr: 0.02 }),
    steps: size.steps,
    loss: (p) => {
      const { y, report } = layer.apply(p, task.x, variant === "lossFree" ? { selectionBias: bias } : {});
      const taskLoss = mean(square(sub(y, task.y)));
      return [taskLoss.add(report.auxLoss), { taskLoss, report }] as const;
    },
    onStep: ({ step, aux }) => {
      const report = aux!.report as MoeReport;
      ratios.push(report.maxLoadRatio.item());
      if (variant === "lossFree") bias = lossFreeBiasUpdate(bias, report.expertCounts, BIAS_RATE);
      if (step % size.every === 0 || step === size.steps - 1) {
        curve.push({
          step,
          maxLoadRatio: round(report.maxLoadRatio.item()),
          switchLoss: round(report.losses.switch!.item()),
          taskLoss: round(aux!.taskLoss.item()),
        });
      }
    },
    progress: progressFor(opts, `load balance (${variant}, seed ${seed})`),
  });
  const final = layer.apply(params, task.x, variant === "lossFree" ? { selectionBias: bias } : {});
  const tail = ratios.slice(Math.floor(ratios.length * 0.8));
  return {
    initialMaxLoadRatio: round(ratios[0]!),
    finalMaxLoadRatio: round(final.report.maxLoadRatio.item()),
    meanMaxLoadRatioLast20pct: round(tail.reduce((a, b) => a + b, 0) / tail.length),
    finalSwitchLoss: round(final.report.losses.switch!.item()),
    finalTaskLoss: round(mean(square(sub(final.y, task.y))).item()),
    finalExpertCounts: Array.from(final.report.expertCounts.dataSync()),
    initialLoss: round(losses[0]!),
    curve,
  };
}

const average = (xs: number[]) => round(xs.reduce((a, b) => a + b, 0) / xs.length);

/** Runs the three variants (from the same initialisations); returns curves (first seed) and balance numbers (mean over seeds). */
export async function run(opts: ExperimentOptions): Promise<Record<string, unknown>> {
  const size = SIZES[opts.size];
  const runs = Object.fromEntries(VARIANTS.map((v) => [v, size.seeds.map((seed) => runVariant(v, seed, opts))]));
  const summary = (pick: (r: ReturnType<typeof runVariant>) => number) =>
    Object.fromEntries(VARIANTS.map((v) => [v, average(runs[v]!.map(pick))]));
  return {
    experts: EXPERTS,
    tokens: EXPERTS * size.perCluster,
    steps: size.steps,
    seeds: size.seeds,
    switchAlpha: SWITCH_ALPHA,
    biasRate: BIAS_RATE,
    initialMaxLoadRatio: summary((r) => r.initialMaxLoadRatio),
    finalMaxLoadRatio: summary((r) => r.finalMaxLoadRatio),
    meanMaxLoadRatioLast20pct: summary((r) => r.meanMaxLoadRatioLast20pct),
    finalSwitchLoss: summary((r) => r.finalSwitchLoss),
    finalTaskLoss: summary((r) => r.finalTaskLoss),
    ...Object.fromEntries(
      VARIANTS.map((v) => [v, { ...runs[v]![0]!, perSeedFinalMaxLoadRatio: runs[v]!.map((r) => r.finalMaxLoadRatio) }]),
    ),
  };
}

/** Max-load/mean-load ratio over training for the three variants. */
export function plotSpec(result: Record<string, unknown>): PlotSpec {
  return {
    kind: "line",
    title: "Top-1 load balance: max load / mean load",
    xLabel: "training step (Adam)",
    yLabel: "max/mean tokens per expert (1 = balanced)",
    series: VARIANTS.map((v) => {
      const curve = (result[v] as { curve: Curve[] }).curve;
      return {
        name: {
          none: "no balancing",
          switch: `Switch loss α=${SWITCH_ALPHA}`,
          lossFree: `loss-free bias u=${BIAS_RATE}`,
        }[v],
        x: curve.map((c) => c.step),
        y: curve.map((c) => c.maxLoadRatio),
      };
    }),
  };
}
