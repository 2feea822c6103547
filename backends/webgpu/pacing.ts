/**
 * Waiting for the device without starving it. In Node, Dawn resolves
 * `mapAsync` and `onSubmittedWorkDone` by polling on the main thread for as
 * long as a promise is pending; on a CPU adapter (SwiftShader) that polling
 * takes a core from the threads doing the work (the issue measured kernels
 * 1.5-1.7x faster when the caller slept first). So a read first sleeps for
 * most of the time the submission is expected to take, measured from earlier
 * runs of the same executable, and only then asks Dawn to map: it polls
 * through the tail alone. A wrong estimate costs little: too short, it polls
 * a little longer; too long, the estimate shrinks (it is learned from
 * completions, which are never sooner than the sleep) by the next runs.
 */

/** Fraction of the expected time a read sleeps before polling. */
const SLEEP_FRACTION = 0.8;
/** Weight of the newest observation in the running estimate. */
const NEW_WEIGHT = 0.3;
/** No sleep below this many ms: a timer's own latency is about 1 ms. */
const MIN_SLEEP_MS = 2;

/** Switch (for benchmarks comparing both ways): when off, reads poll at once. */
export const pacing = { enabled: true };

/** How long submissions of one executable take, from submit to completion (ms, running average). */
export class RunTimeEstimate {
  private ms: number | undefined;

  /** The submission started at `submittedAt` completed (was seen complete) at `doneAt`. */
  observe(submittedAt: number, doneAt: number): void {
    const took = doneAt - submittedAt;
    this.ms = this.ms === undefined ? took : (1 - NEW_WEIGHT) * this.ms + NEW_WEIGHT * took;
  }

  /** Sleeps until the submission started at `submittedAt` is probably almost done. */
  async waitBeforePolling(submittedAt: number): Promise<void> {
    if (!pacing.enabled || this.ms === undefined) return;
    const left = SLEEP_FRACTION * this.ms - (performance.now() - submittedAt);
    if (left >= MIN_SLEEP_MS) await new Promise((resolve) => setTimeout(resolve, left));
  }
}

/** Polling that resolved within this many ms found the work already done: its time says only "sooner". */
const ALREADY_DONE_MS = 1;

/** One submission's timing: waits on it sleep first, and the first completion seen is learned from. */
export class SubmissionPace {
  private observed = false;
  readonly submittedAt = performance.now();
  constructor(private readonly estimate: RunTimeEstimate) {}

  /**
   * Runs `mapAfterWork` (a mapAsync or similar that resolves once the
   * submission's work is complete) after sleeping for most of the expected
   * time, and learns how long the work took.
   */
  async poll<T>(mapAfterWork: () => Promise<T>): Promise<T> {
    if (!this.observed) await this.estimate.waitBeforePolling(this.submittedAt);
    const start = performance.now();
    const result = await mapAfterWork();
    if (!this.observed) {
      this.observed = true;
      const end = performance.now();
      // Resolved at once: the work ended before `start` (an upper bound that shrinks a too-long estimate).
      this.estimate.observe(this.submittedAt, end - start < ALREADY_DONE_MS ? start : end);
    }
    return result;
  }
}
