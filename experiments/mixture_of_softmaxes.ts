/**
 * Experiment 6 — the softmax bottleneck (Yang, Dai, Salakhutdinov & Cohen 2018).
 * A synthetic next-token task: M contexts, a vocabulary of V tokens, and a
 * true conditional distribution P(v | c) = softmax(A)_cv whose log-probability
 * matrix A is random and so has full rank min(M, V). Each context has a learned
 * embedding; a model maps it through d-dimensional latent vectors to V logits.
 * One softmax (K = 1) can only express log-probability matrices of rank <= d + 1;
 * a mixture of K softmaxes with the same d is not bound by that and should
 * reach a lower loss. We train both on the exact cross-entropy against P and
 * report the excess over the entropy of P (= the KL divergence to the truth).
 */
import { random, softmax, tensor, type Tensor } from "../index";
import { adam, initMixtureOfSoftmaxes, mixtureOfSoftmaxesLoss, train, type MixtureOfSoftmaxesParams } from "../moe";
import { gaussianMatrix, round, seededNormal } from "./common/data";
import { progressFor, type ExperimentOptions } from "./experiment";
import type { PlotSpec } from "./svg";

const SIZES = {
  full: { contexts: 64, vocab: 64, embedDim: 16, latentDim: 4, components: [1, 2, 4, 8], steps: 1500, every: 25 },
  reduced: { contexts: 24, vocab: 24, embedDim: 8, latentDim: 2, components: [1, 4], steps: 300, every: 10 },
};

interface Model {
  embed: Tensor;
  mos: MixtureOfSoftmaxesParams;
}

export async function run(opts: ExperimentOptions): Promise<Record<string, unknown>> {
  const size = SIZES[opts.size];
  const { contexts: m, vocab: v } = size;
  const trueLogits = tensor(gaussianMatrix(seededNormal(21), m, v, 2));
  const truth = softmax(trueLogits, -1);
  const entropy = -truth.mul(truth.log()).sum().item() / m;
  const models = size.components.map((k) => {
    const [ke, km] = random.split(random.key(100 + k), 2);
    const init: Model = {
      embed: random.normal(ke!, [m, size.embedDim]),
      mos: initMixtureOfSoftmaxes(km!, {
        contextDim: size.embedDim,
        latentDim: size.latentDim,
        vocab: v,
        components: k,
      }),
    };
    // The batch is every context once, in order, so the context vectors are the embedding table itself.
    const { losses } = train({
      params: init,
      optimizer: adam({ lr: 0.03 }),
      steps: size.steps,
      loss: (p) => mixtureOfSoftmaxesLoss(p.mos, p.embed, truth),
      progress: progressFor(opts, k === 1 ? "one softmax" : `MoS K=${k}`),
    });
    const excess = losses.map((l) => l - entropy);
    return { components: k, excess, final: Math.min(...excess.slice(-10)) };
  });
  const single = models[0]!;
  const best = models.reduce((a, b) => (b.final < a.final ? b : a));
  return {
    contexts: m,
    vocab: v,
    latentDim: size.latentDim,
    trueLogProbRank: Math.min(m, v),
    singleSoftmaxRankBound: size.latentDim + 1,
    entropy: round(entropy),
    steps: size.steps,
    finalExcessLoss: Object.fromEntries(models.map((r) => [`K=${r.components}`, round(r.final)])),
    singleSoftmaxExcess: round(single.final),
    bestMixtureComponents: best.components,
    bestMixtureExcess: round(best.final),
    curves: models.map((r) => ({
      components: r.components,
      step: r.excess.flatMap((_, i) => (i % size.every === 0 ? [i] : [])),
      excess: r.excess.flatMap((e, i) => (i % size.every === 0 ? [round(e)] : [])),
    })),
  };
}

export function plotSpec(result: Record<string, unknown>): PlotSpec {
  const curves = result.curves as { components: number; step: number[]; excess: number[] }[];
  return {
    kind: "line",
    title: "Mixture of softmaxes vs one softmax (same latent size)",
    xLabel: "training step (Adam)",
    yLabel: "cross-entropy - entropy (KL to the truth, nats)",
    logY: true,
    series: curves.map((c) => ({
      name: c.components === 1 ? "softmax (K=1)" : `MoS K=${c.components}`,
      x: c.step,
      y: c.excess,
    })),
  };
}
