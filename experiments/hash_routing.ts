/**
 * Experiment 5 — hash routing vs learned top-1 routing (Roller et al. 2021).
 * A synthetic token task: each of V token ids has a fixed random embedding
 * (the layer's input) and a fixed random target vector. One MoE layer of E
 * affine experts must map every embedding to its target. An affine expert on
 * D inputs can fit at most D + 1 tokens exactly, and V = E·(D + 1), so the
 * task is solvable exactly only if every expert gets exactly D + 1 tokens:
 * it measures how well each router spreads the vocabulary.
 * Routers: a fixed hash of the token id (a plain hash mod E, and a balanced
 * hash table), a learned top-1 router (Switch-style weight = router
 * probability), and the learned router with the Switch aux loss.
 */
import { arange, mean, random, square, sub, tensor } from "../index";
import { adam, hashTable, linearExperts, moeLayer, train, type AuxLossWeights, type GateConfig } from "../moe";
import { gaussianMatrix, round, seededNormal } from "./common/data";
import { progressFor, type ExperimentOptions } from "./experiment";
import type { PlotSpec } from "./svg";

const EXPERTS = 8;
const DIM = 4;
const VOCAB = EXPERTS * (DIM + 1);
const SIZES = {
  full: { steps: 600, seeds: [1, 2, 3], every: 20 },
  reduced: { steps: 250, seeds: [1], every: 25 },
};

type Router = "hash" | "balancedHash" | "learned" | "learnedSwitch";
const ROUTERS: readonly Router[] = ["hash", "balancedHash", "learned", "learnedSwitch"];
const LABEL: Record<Router, string> = {
  hash: "hash mod E",
  balancedHash: "balanced hash",
  learned: "learned top-1",
  learnedSwitch: "learned + Switch loss",
};

function gateFor(router: Router, layerSeed: number): { gate: GateConfig; aux: AuxLossWeights } {
  if (router === "hash" || router === "balancedHash") {
    return {
      gate: {
        type: "hash",
        table: hashTable(VOCAB, EXPERTS, { layer: 0, seed: layerSeed, balanced: router === "balancedHash" }),
      },
      aux: {},
    };
  }
  return { gate: { type: "topK", k: 1, renormalize: false }, aux: router === "learnedSwitch" ? { switch: 0.1 } : {} };
}

function runRouter(router: Router, seed: number, opts: ExperimentOptions) {
  const size = SIZES[opts.size];
  const normal = seededNormal(100 + seed);
  const x = tensor(gaussianMatrix(normal, VOCAB, DIM));
  const y = tensor(gaussianMatrix(normal, VOCAB, DIM));
  const tokenIds = arange(VOCAB);
  const { gate, aux } = gateFor(router, seed);
  const layer = moeLayer({ numExperts: EXPERTS, gate, experts: linearExperts, auxLossWeights: aux });
  const curve: { step: number; taskLoss: number; maxLoadRatio: number }[] = [];
  const { params } = train({
    params: layer.init(random.key(seed), { dModel: DIM }),
    optimizer: adam({ lr: 0.03 }),
    steps: size.steps,
    loss: (p) => {
      const { y: out, report } = layer.apply(p, x, { tokenIds });
      const taskLoss = mean(square(sub(out, y)));
      return [taskLoss.add(report.auxLoss), { taskLoss, ratio: report.maxLoadRatio }] as const;
    },
    onStep: ({ step, aux: a }) => {
      if (step % size.every === 0 || step === size.steps - 1)
        curve.push({ step, taskLoss: round(a!.taskLoss.item()), maxLoadRatio: round(a!.ratio.item()) });
    },
    progress: progressFor(opts, `hash routing (${router}, seed ${seed})`),
  });
  const final = layer.apply(params, x, { tokenIds });
  return {
    taskLoss: mean(square(sub(final.y, y))).item(),
    maxLoadRatio: final.report.maxLoadRatio.item(),
    tokensPerExpert: Array.from(final.report.expertCounts.dataSync()),
    curve,
  };
}

const average = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Trains each router over the size's seeds; reports task loss and load balance. */
export async function run(opts: ExperimentOptions): Promise<Record<string, unknown>> {
  const size = SIZES[opts.size];
  const results = Object.fromEntries(
    ROUTERS.map((r) => {
      const runs = size.seeds.map((s) => runRouter(r, s, opts));
      return [
        r,
        {
          label: LABEL[r],
          taskLoss: round(average(runs.map((x) => x.taskLoss)), 5),
          perSeedTaskLoss: runs.map((x) => round(x.taskLoss, 5)),
          maxLoadRatio: round(average(runs.map((x) => x.maxLoadRatio))),
          tokensPerExpert: runs[0]!.tokensPerExpert,
          curve: runs[0]!.curve,
        },
      ];
    }),
  );
  return {
    experts: EXPERTS,
    dim: DIM,
    vocab: VOCAB,
    tokensEachExpertCanFit: DIM + 1,
    steps: size.steps,
    seeds: size.seeds,
    ...results,
  };
}

/** Task loss over training for each router (log scale). */
export function plotSpec(result: Record<string, unknown>): PlotSpec {
  return {
    kind: "line",
    title: "Hash routing vs learned top-1: memorising a token table",
    xLabel: "training step (Adam)",
    yLabel: "task loss (MSE)",
    logY: true,
    series: ROUTERS.map((r) => {
      const curve = (result[r] as { curve: { step: number; taskLoss: number }[] }).curve;
      return { name: LABEL[r], x: curve.map((c) => c.step), y: curve.map((c) => c.taskLoss) };
    }),
  };
}
