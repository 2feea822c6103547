/**
 * Experiment 1 — local experts specialise (Jacobs, Jordan, Nowlan & Hinton 1991).
 * Inputs come from 4 separated square regions of the plane; in each region the
 * target is a different linear map of the input. A mixture of 4 linear experts
 * with a softmax gate, trained on the Gaussian-mixture NLL, should end up with
 * each region served by one dominant expert (the gate's arg-max picks that
 * expert for > 90% of the region's inputs: its purity). The full run repeats
 * the training from 8 initialisations and counts how many specialise.
 */
import { argmax, random, tensor } from "../index";
import { adam, initGatedExperts, localExperts, localExpertsLoss, train, type GatedExpertsParams } from "../moe";
import { gaussianMatrix, matVec, round, seededNormal, seededUniform } from "./common/data";
import { progressFor, type ExperimentOptions } from "./experiment";
import type { PlotSpec } from "./svg";

const REGIONS = 4;
const CENTERS = [
  [-2, -2],
  [-2, 2],
  [2, -2],
  [2, 2],
] as const;

const SIZES = {
  full: { perRegion: 200, steps: 800, every: 20, seeds: [3, 0, 1, 2, 4, 5, 6, 7] },
  reduced: { perRegion: 50, steps: 250, every: 25, seeds: [3] },
};

/** Inputs uniform in the unit square around each region's center; y = A_r x + b_r + N(0, 0.05²). */
function makeData(perRegion: number, seed: number) {
  const u = seededUniform(seed);
  const normal = seededNormal(seed + 1);
  const maps = CENTERS.map(() => ({ a: gaussianMatrix(normal, 2, 2, 1.5), b: gaussianMatrix(normal, 1, 2, 1)[0]! }));
  const xs: number[][] = [];
  const ys: number[][] = [];
  const region: number[] = [];
  CENTERS.forEach((c, r) => {
    for (let i = 0; i < perRegion; i++) {
      const x = [c[0] + (u() * 2 - 1), c[1] + (u() * 2 - 1)];
      xs.push(x);
      ys.push(matVec(maps[r]!.a, x).map((v, k) => v + maps[r]!.b[k]! + 0.05 * normal()));
      region.push(r);
    }
  });
  return { x: tensor(xs), y: tensor(ys), region };
}

/**
 * Per region and expert: `hard`, the fraction of the region's inputs whose gate
 * arg-max is that expert, and `soft`, the expert's mean gate weight there.
 */
function usage(
  params: GatedExpertsParams,
  x: ReturnType<typeof makeData>["x"],
  region: readonly number[],
): { hard: number[][]; soft: number[][] } {
  const gates = localExperts(params, x).gates;
  const winner = Array.from(argmax(gates, -1).dataSync());
  const probs = gates.toArray() as number[][];
  const experts = probs[0]!.length;
  const hard = Array.from({ length: REGIONS }, () => new Array<number>(experts).fill(0));
  const soft = Array.from({ length: REGIONS }, () => new Array<number>(experts).fill(0));
  const size = new Array<number>(REGIONS).fill(0);
  winner.forEach((w, i) => {
    const r = region[i]!;
    size[r]++;
    hard[r]![w]++;
    probs[i]!.forEach((p, e) => (soft[r]![e] += p));
  });
  const norm = (rows: number[][]) => rows.map((row, r) => row.map((v) => v / size[r]!));
  return { hard: norm(hard), soft: norm(soft) };
}

interface Checkpoint {
  step: number;
  /** Per region: the fraction routed (arg-max) to its top expert. */
  purity: number[];
  /** Per region: the mean gate weight of that top expert. */
  gateShare: number[];
}

function checkpoint(step: number, params: GatedExpertsParams, data: ReturnType<typeof makeData>): Checkpoint {
  const { hard, soft } = usage(params, data.x, data.region);
  const top = hard.map((row) => row.indexOf(Math.max(...row)));
  return { step, purity: hard.map((row, r) => row[top[r]!]!), gateShare: soft.map((row, r) => row[top[r]!]!) };
}

/** Trains one mixture from the init seed `seed`; returns the trained usage and the curve of checkpoints. */
function trainOnce(
  data: ReturnType<typeof makeData>,
  seed: number,
  size: (typeof SIZES)["full"],
  opts: ExperimentOptions,
) {
  const init = initGatedExperts(random.key(seed), { inputDim: 2, outputDim: 2, experts: REGIONS });
  const curve: Checkpoint[] = [checkpoint(0, init, data)];
  const { params, losses } = train({
    params: init,
    optimizer: adam({ lr: 0.05 }),
    steps: size.steps,
    loss: (p) => localExpertsLoss(p, data.x, data.y),
    onStep: ({ step, params: p }) => {
      // Dense checkpoints early (the gate sorts the regions out within a few dozen steps), sparse later.
      if (step + 1 < size.every || (step + 1) % size.every === 0) curve.push(checkpoint(step + 1, p, data));
    },
    progress: progressFor(opts, `local experts (init seed ${seed})`),
  });
  const finalUsage = usage(params, data.x, data.region).hard;
  const dominant = finalUsage.map((r) => r.indexOf(Math.max(...r)));
  return { params, losses, curve, finalUsage, dominant, purity: finalUsage.map((r) => Math.max(...r)) };
}

export async function run(opts: ExperimentOptions): Promise<Record<string, unknown>> {
  const size = SIZES[opts.size];
  const data = makeData(size.perRegion, 1);
  const runs = size.seeds.map((seed) => ({ seed, ...trainOnce(data, seed, size, opts) }));
  const main = runs[0]!;
  return {
    regions: REGIONS,
    experts: REGIONS,
    samples: data.region.length,
    steps: size.steps,
    initialLoss: round(main.losses[0]!),
    finalLoss: round(localExpertsLoss(main.params, data.x, data.y).item()),
    purity: main.purity.map((p) => round(p)),
    minPurity: round(Math.min(...main.purity)),
    dominantExpert: main.dominant,
    distinctDominantExperts: new Set(main.dominant).size,
    usage: main.finalUsage.map((r) => r.map((v) => round(v))),
    seeds: runs.map((r) => ({
      seed: r.seed,
      minPurity: round(Math.min(...r.purity)),
      distinctDominantExperts: new Set(r.dominant).size,
    })),
    seedsSpecialised: runs.filter((r) => Math.min(...r.purity) > 0.9 && new Set(r.dominant).size === REGIONS).length,
    purityCurve: main.curve.map((c) => ({
      step: c.step,
      purity: c.purity.map((p) => round(p)),
      gateShare: c.gateShare.map((p) => round(p)),
    })),
    lossCurve: main.losses
      .filter((_, i) => i % size.every === 0)
      .map((l, i) => ({ step: i * size.every, loss: round(l) })),
  };
}

export function plotSpec(result: Record<string, unknown>): PlotSpec {
  const curve = result.purityCurve as Checkpoint[];
  const steps = curve.map((c) => c.step + 1);
  return {
    kind: "line",
    title: "Local experts: how each region comes to be served by one expert",
    xLabel: "training step + 1 (Adam, log scale)",
    yLabel: "share of the region's top expert",
    logX: true,
    series: [
      ...Array.from({ length: REGIONS }, (_, r) => ({
        name: `region ${r + 1}: purity`,
        x: steps,
        y: curve.map((c) => c.purity[r]!),
      })),
      { name: "min gate weight of top expert", x: steps, y: curve.map((c) => Math.min(...c.gateShare)) },
    ],
  };
}
