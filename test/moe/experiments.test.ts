/**
 * The sparse-routing experiments (3, 4, 5) on their reduced sizes: each run
 * must show the qualitative result the experiment is about.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as capacity from "../../experiments/capacity";
import * as hashRouting from "../../experiments/hash_routing";
import * as loadBalance from "../../experiments/load_balance";
import { renderPlot } from "../../experiments/svg";

const opts = { size: "reduced" as const, outDir: "out/experiments-test" };
type ByVariant = Record<"none" | "switch" | "lossFree", number>;

describe("experiment 3: load balance of top-1 routing", () => {
  let r: Record<string, unknown>;
  let ratio: ByVariant;
  let task: ByVariant;
  let switchLoss: ByVariant;
  beforeAll(async () => {
    r = await loadBalance.run(opts);
    [ratio, task, switchLoss] = [r.finalMaxLoadRatio, r.finalTaskLoss, r.finalSwitchLoss] as ByVariant[];
  });

  it("without balancing the router stays collapsed onto a few experts", () => {
    expect((r.initialMaxLoadRatio as ByVariant).none).toBeGreaterThan(3);
    expect(ratio.none).toBeGreaterThan(3);
    expect(switchLoss.none).toBeGreaterThan(2);
  });

  it("the Switch aux loss and the loss-free bias both balance the load (and the task loss follows)", () => {
    expect(ratio.switch).toBeLessThan(ratio.none / 2);
    expect(ratio.lossFree).toBeLessThan(1.5);
    expect(switchLoss.switch).toBeLessThan(1.2);
    expect(task.switch).toBeLessThan(task.none);
    expect(task.lossFree).toBeLessThan(task.none);
  });

  it("plots one ratio curve per variant", () => {
    expect(renderPlot(loadBalance.plotSpec(r))).toContain("loss-free bias");
  });
});

describe("experiment 4: capacity factor", () => {
  let r: Record<string, unknown>;
  beforeAll(async () => {
    r = await capacity.run(opts);
  });
  const by = (c: number | string) =>
    (r.results as { capacityFactor: number | string; dropFraction: number; taskLoss: number }[]).find(
      (x) => x.capacityFactor === c,
    )!;

  it("a larger capacity factor drops fewer tokens; dropless drops none", () => {
    expect(by(1).dropFraction).toBeGreaterThan(by(1.25).dropFraction);
    expect(by(1.25).dropFraction).toBeGreaterThan(by(2).dropFraction);
    expect(by(1).dropFraction).toBeGreaterThan(0.05);
    expect(by("dropless").dropFraction).toBe(0);
  });

  it("dropping tokens costs task loss", () => {
    expect(by(1).taskLoss).toBeGreaterThan(by(2).taskLoss);
  });

  it("plots drop fraction and loss per factor", () => {
    expect(renderPlot(capacity.plotSpec(r))).toContain("<svg");
  });
});

describe("experiment 5: hash routing vs learned top-1", () => {
  let r: Record<string, unknown>;
  beforeAll(async () => {
    r = await hashRouting.run(opts);
  });
  type Row = { taskLoss: number; maxLoadRatio: number; curve: { maxLoadRatio: number }[] };
  const row = (k: string) => r[k] as Row;

  it("a balanced hash gives every expert exactly the tokens it can fit and reaches the lowest loss", () => {
    expect(row("balancedHash").maxLoadRatio).toBe(1);
    for (const other of ["hash", "learned", "learnedSwitch"])
      expect(row("balancedHash").taskLoss).toBeLessThan(row(other).taskLoss);
  });

  it("a hash assignment is fixed: its load never changes during training", () => {
    const ratios = row("hash").curve.map((c) => c.maxLoadRatio);
    expect(new Set(ratios).size).toBe(1);
    expect(ratios[0]).toBeGreaterThan(1);
  });

  it("plots the loss curves", () => {
    expect(renderPlot(hashRouting.plotSpec(r))).toContain("learned top-1");
  });
});
