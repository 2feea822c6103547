/**
 * The read pacing's run-time estimate (backends/webgpu/pacing.ts): a read
 * sleeps for most of the expected time; an estimate that was too long (the
 * work was done when polling began) is measured again by the next read, so a
 * slow first run (lazy shader compilation) costs one oversleep.
 */
import { afterEach, describe, expect, it } from "vitest";
import { RunTimeEstimate, pacing } from "../../backends/webgpu/pacing";

/** Simulates reads of work that takes `took` ms: returns how long each read slept before polling. */
function simulate(estimate: RunTimeEstimate, took: number, calls: number): number[] {
  const slept: number[] = [];
  for (let i = 0; i < calls; i++) {
    const sleep = estimate.sleepMs(0);
    slept.push(sleep);
    if (sleep >= took)
      estimate.observe(sleep, false); // found done at once: took at most `sleep`
    else estimate.observe(took, true); // polled through the tail
  }
  return slept;
}

describe("webgpu read pacing", () => {
  afterEach(() => {
    pacing.enabled = true;
  });

  it("does not sleep before anything was observed, then sleeps for 80% of the last run", () => {
    const e = new RunTimeEstimate();
    expect(e.sleepMs(0)).toBe(0);
    e.observe(100, true);
    expect(e.sleepMs(0)).toBeCloseTo(80);
    expect(e.sleepMs(30)).toBeCloseTo(50); // time already spent since the submission counts
    expect(e.sleepMs(79)).toBe(0); // under the timer's resolution: poll at once
  });

  it("recovers from a first run 5x slower than the steady state after one oversleep", () => {
    const e = new RunTimeEstimate();
    e.observe(500, true); // the first run paid for shader compilation
    const slept = simulate(e, 100, 6);
    expect(slept[0]).toBeCloseTo(400); // oversleeps once, finds the work done ...
    expect(slept[1]).toBe(0); // ... measures it again ...
    expect(slept.slice(2).every((s) => Math.abs(s - 80) < 1e-9)).toBe(true); // ... and sleeps for 80% of it
    expect(e.expectedMs).toBeCloseTo(100);
  });

  it("follows a run that became slower", () => {
    const e = new RunTimeEstimate();
    e.observe(10, true);
    simulate(e, 200, 2);
    expect(e.expectedMs).toBeCloseTo(200);
  });

  it("never sleeps when pacing is switched off", () => {
    const e = new RunTimeEstimate();
    e.observe(100, true);
    pacing.enabled = false;
    expect(e.sleepMs(0)).toBe(0);
  });
});
