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
const CENTERS = [[-2, -2], [-2, 2], [2, -2], [2, 2]] as const;

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

/** Per region: the fraction of its inputs whose gate arg-max is each expert. */
function usage(params: GatedExpertsParams, x: ReturnType<typeof makeData>["x"], region: readonly number[], experts: number): number[][] {
  const winner = Array.from(argmax(localExperts(params, x).gates, -1).dataSync());
  const counts = Array.from({ length: REGIONS }, () => new Array<number>(experts).fill(0));
  winner.forEach((w, i) => counts[region[i]!]![w]++);
  return counts.map((row) => {
    const total = row.reduce((s, v) => s + v, 0);
    return row.map((v) => v / total);
  });
}

/** Trains one mixture from the init seed `seed`; returns the trained usage and the purity curve. */
function trainOnce(data: ReturnType<typeof makeData>, seed: number, size: (typeof SIZES)["full"], opts: ExperimentOptions) {
  const experts = REGIONS;
  const init = initGatedExperts(random.key(seed), { inputDim: 2, outputDim: 2, experts });
  const purityOf = (p: GatedExpertsParams) => usage(p, data.x, data.region, experts).map((r) => Math.max(...r));
  const curve: { step: number; purity: number[] }[] = [{ step: 0, purity: purityOf(init) }];
  const { params, losses } = train({
    params: init,
    optimizer: adam({ lr: 0.05 }),
    steps: size.steps,
    loss: (p) => localExpertsLoss(p, data.x, data.y),
    onStep: ({ step, params: p }) => {
      if ((step + 1) % size.every === 0) curve.push({ step: step + 1, purity: purityOf(p) });
    },
    progress: progressFor(opts, `local experts (init seed ${seed})`),
  });
  const finalUsage = usage(params, data.x, data.region, experts);
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
    seeds: runs.map((r) => ({ seed: r.seed, minPurity: round(Math.min(...r.purity)), distinctDominantExperts: new Set(r.dominant).size })),
    seedsSpecialised: runs.filter((r) => Math.min(...r.purity) > 0.9 && new Set(r.dominant).size === REGIONS).length,
    purityCurve: main.curve.map((c) => ({ step: c.step, purity: c.purity.map((p) => round(p)) })),
    lossCurve: main.losses.filter((_, i) => i % size.every === 0).map((l, i) => ({ step: i * size.every, loss: round(l) })),
  };
}

export function plotSpec(result: Record<string, unknown>): PlotSpec {
  const curve = result.purityCurve as { step: number; purity: number[] }[];
  return {
    kind: "line",
    title: "Local experts: purity of each region's dominant expert",
    xLabel: "training step (Adam)",
    yLabel: "fraction of the region routed to its top expert",
    series: Array.from({ length: REGIONS }, (_, r) => ({
      name: `region ${r + 1}`,
      x: curve.map((c) => c.step),
      y: curve.map((c) => c.purity[r]!),
    })),
  };
}
