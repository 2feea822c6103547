/**
 * Experiment 7 — meta-pi on a multi-source task (Hampshire & Waibel 1992).
 * Six synthetic "speakers" say the same 4 classes ("phonemes"), each with its
 * own rotation of the class layout (so one linear classifier cannot serve all)
 * and its own offset in two extra features (so the source can be recognised).
 * As in the paper, one expert is first trained per speaker; then the meta-pi
 * gate is trained, with the experts frozen, on the squared error of the gated
 * sum of expert outputs over all speakers. We report which experts each
 * speaker's inputs use (the mean gate weight per speaker and expert) and the
 * test accuracy of meta-pi, of the best single expert, and of one classifier
 * trained on all speakers pooled (the speaker-independent baseline).
 */
import { argmax, mean, oneHot, random, softmax, stopGradient, sum, tensor, type Tensor } from "../index";
import { adam, expertBank, initGatedExperts, metaPi, metaPiLoss, train, type GatedExpertsParams } from "../moe";
import { matVec, randomRotation, round, seededNormal } from "./common/data";
import { progressFor, type ExperimentOptions } from "./experiment";
import type { PlotSpec } from "./svg";

const SPEAKERS = 6;
const CLASSES = 4;
const FEATURES = CLASSES + 2; // class features + two speaker-offset features

const SIZES = {
  full: { perSpeaker: 200, expertSteps: 400, gateSteps: 400 },
  reduced: { perSpeaker: 50, expertSteps: 150, gateSteps: 150 },
};

interface Split {
  x: Tensor;
  labels: Tensor;
  targets: Tensor;
  speaker: number[];
}

/** Per speaker s: x = [R_s (3 e_c) + N(0, 0.6²); 4 (cos, sin)(2πs/6) + N(0, 0.3²)]. */
function makeSpeakers(seed: number) {
  const normal = seededNormal(seed);
  return Array.from({ length: SPEAKERS }, (_, s) => ({
    rotation: randomRotation(normal, CLASSES),
    offset: [4 * Math.cos((2 * Math.PI * s) / SPEAKERS), 4 * Math.sin((2 * Math.PI * s) / SPEAKERS)],
  }));
}

function sample(speakers: ReturnType<typeof makeSpeakers>, perSpeaker: number, seed: number): Split {
  const normal = seededNormal(seed);
  const xs: number[][] = [];
  const labels: number[] = [];
  const speaker: number[] = [];
  speakers.forEach((sp, s) => {
    for (let i = 0; i < perSpeaker; i++) {
      const c = i % CLASSES;
      const proto = Array.from({ length: CLASSES }, (_, k) => (k === c ? 3 : 0));
      xs.push([
        ...matVec(sp.rotation, proto).map((v) => v + 0.6 * normal()),
        ...sp.offset.map((o) => o + 0.3 * normal()),
      ]);
      labels.push(c);
      speaker.push(s);
    }
  });
  const labelT = tensor(labels, [labels.length], "i32");
  return { x: tensor(xs), labels: labelT, targets: oneHot(labelT, CLASSES), speaker };
}

const accuracy = (probs: Tensor, labels: Tensor): number => mean(argmax(probs, -1).equal(labels).cast("f32")).item();

/** Trains expert s on speaker s only: the squared error of softmax(x W_s + b_s) against one-hot targets. */
function trainExperts(
  data: Split,
  steps: number,
  progress: ReturnType<typeof progressFor>,
): GatedExpertsParams["experts"] {
  const own = oneHot(tensor(data.speaker, [data.speaker.length], "i32"), SPEAKERS); // [N, E]: which expert owns each case
  const init = initGatedExperts(random.key(7), { inputDim: FEATURES, outputDim: CLASSES, experts: SPEAKERS }).experts;
  const loss = (experts: GatedExpertsParams["experts"]) => {
    const probs = softmax(expertBank(experts, data.x), -1); // [N, E, C]
    const err = sum(probs.sub(data.targets.expandDims(1)).square(), -1); // [N, E]
    return mean(sum(err.mul(own), -1));
  };
  return train({ params: init, optimizer: adam({ lr: 0.05 }), steps, loss, progress }).params;
}

export async function run(opts: ExperimentOptions): Promise<Record<string, unknown>> {
  const size = SIZES[opts.size];
  const speakers = makeSpeakers(31);
  const trainSet = sample(speakers, size.perSpeaker, 32);
  const test = sample(speakers, size.perSpeaker, 33);
  const experts = trainExperts(trainSet, size.expertSteps, progressFor(opts, "per-speaker experts"));

  // The meta-pi stage: only the gate learns; the experts are held fixed.
  const gateInit = initGatedExperts(random.key(8), { inputDim: FEATURES, outputDim: CLASSES, experts: SPEAKERS }).gate;
  const withGate = (gate: GatedExpertsParams["gate"]): GatedExpertsParams => ({
    gate,
    experts: { w: stopGradient(experts.w), b: stopGradient(experts.b) },
  });
  const { params: gate, losses } = train({
    params: gateInit,
    optimizer: adam({ lr: 0.05 }),
    steps: size.gateSteps,
    loss: (g) => metaPiLoss(withGate(g), trainSet.x, trainSet.targets, { expertActivation: "softmax" }),
    progress: progressFor(opts, "meta-pi gate"),
  });
  const out = metaPi({ gate, experts }, test.x, { expertActivation: "softmax" });

  // usage[s][i]: mean gate weight of expert i over speaker s's test inputs.
  const gates = out.gates.toArray() as number[][];
  const usage = Array.from({ length: SPEAKERS }, (_, s) => {
    const rows = gates.filter((_, n) => test.speaker[n] === s);
    return Array.from({ length: SPEAKERS }, (_, i) => rows.reduce((acc, r) => acc + r[i]!, 0) / rows.length);
  });
  const expertAccuracy = Array.from({ length: SPEAKERS }, (_, i) => {
    const probs = out.expertOutputs.take(tensor([i], [1], "i32"), 1).squeeze(1);
    return accuracy(probs, test.labels);
  });

  // Speaker-independent baseline: one softmax classifier trained on everyone (same loss).
  const pooledInit = initGatedExperts(random.key(9), { inputDim: FEATURES, outputDim: CLASSES, experts: 1 }).experts;
  const pooledProbs = (e: GatedExpertsParams["experts"], x: Tensor) => softmax(expertBank(e, x), -1).squeeze(1);
  const pooled = train({
    params: pooledInit,
    optimizer: adam({ lr: 0.05 }),
    steps: size.expertSteps,
    loss: (e) => mean(pooledProbs(e, trainSet.x).sub(trainSet.targets).square()),
    progress: progressFor(opts, "pooled classifier"),
  }).params;

  const diagonal = usage.map((row, s) => row[s]!);
  return {
    speakers: SPEAKERS,
    classes: CLASSES,
    trainPerSpeaker: size.perSpeaker,
    gateLoss: { initial: round(losses[0]!), final: round(losses.at(-1)!) },
    usage: usage.map((r) => r.map((v) => round(v))),
    ownExpertUsage: diagonal.map((v) => round(v)),
    meanOwnExpertUsage: round(diagonal.reduce((a, b) => a + b, 0) / SPEAKERS),
    speakersWhoseTopExpertIsTheirOwn: usage.filter((row, s) => row.indexOf(Math.max(...row)) === s).length,
    testAccuracy: {
      metaPi: round(accuracy(out.output, test.labels)),
      bestSingleExpert: round(Math.max(...expertAccuracy)),
      pooledClassifier: round(accuracy(pooledProbs(pooled, test.x), test.labels)),
    },
    expertAccuracyOnAllSpeakers: expertAccuracy.map((a) => round(a)),
  };
}

export function plotSpec(result: Record<string, unknown>): PlotSpec {
  const usage = result.usage as number[][];
  return {
    kind: "bar",
    title: "Meta-pi: mean gate weight of each expert, per speaker",
    xLabel: "test speaker (source)",
    yLabel: "mean gate weight",
    categories: usage.map((_, s) => `speaker ${s + 1}`),
    series: usage[0]!.map((_, i) => ({ name: `expert ${i + 1}`, values: usage.map((row) => row[i]!) })),
  };
}
