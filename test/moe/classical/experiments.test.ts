/** The qualitative result of each classical experiment, on its reduced size. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as emVsGradient from "../../../experiments/em_vs_gradient";
import * as localExperts from "../../../experiments/local_experts";
import * as metaPi from "../../../experiments/meta_pi";
import * as mixtureOfSoftmaxes from "../../../experiments/mixture_of_softmaxes";

const opts = () => ({ size: "reduced" as const, outDir: mkdtempSync(join(tmpdir(), "moeforge-exp-")) });

describe("classical experiments (reduced)", () => {
  it("1. local experts: each region is served by its own dominant expert (purity > 0.9)", async () => {
    const r = await localExperts.run(opts());
    expect(r.minPurity as number).toBeGreaterThan(0.9);
    expect(r.distinctDominantExperts).toBe(4);
    expect(r.finalLoss as number).toBeLessThan((r.initialLoss as number) / 10);
  });

  it("2. EM reaches the target log-likelihood in far fewer iterations than gradient ascent", async () => {
    const r = await emVsGradient.run(opts());
    const its = r.iterationsToTarget as Record<string, number | null>;
    expect(its.EM).not.toBeNull();
    expect(its.EM!).toBeLessThanOrEqual(20);
    for (const [name, n] of Object.entries(its)) if (name !== "EM") expect(n === null || n >= 10 * its.EM!).toBe(true);
    const em = (r.curves as { name: string; logLikelihood: number[] }[]).find((c) => c.name === "EM")!.logLikelihood;
    em.slice(1).forEach((v, i) => expect(v).toBeGreaterThanOrEqual(em[i]! - 1e-3)); // rounded to 4 digits
  });

  it("6. a mixture of softmaxes beats one softmax on a high-rank next-token task", async () => {
    const r = await mixtureOfSoftmaxes.run(opts());
    expect(r.bestMixtureComponents as number).toBeGreaterThan(1);
    expect(r.bestMixtureExcess as number).toBeLessThan(0.75 * (r.singleSoftmaxExcess as number));
  });

  it("7. meta-pi: each speaker's inputs use that speaker's expert, and the mixture beats speaker-independent models", async () => {
    const r = await metaPi.run(opts());
    expect(r.speakersWhoseTopExpertIsTheirOwn).toBe(6);
    expect(r.meanOwnExpertUsage as number).toBeGreaterThan(0.8);
    const acc = r.testAccuracy as Record<string, number>;
    expect(acc.metaPi!).toBeGreaterThan(0.9);
    expect(acc.metaPi!).toBeGreaterThan(acc.pooledClassifier! + 0.2);
    expect(acc.metaPi!).toBeGreaterThan(acc.bestSingleExpert! + 0.2);
    const usage = r.usage as number[][];
    usage.forEach((row) => expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3));
  });
});
