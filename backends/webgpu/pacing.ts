/**
 * Waiting for the device without starving it. In Node, Dawn resolves
 * `mapAsync` and `onSubmittedWorkDone` by polling on the main thread for as
 * long as a promise is pending; on a CPU adapter (SwiftShader) that polling
 * takes a core from the threads doing the work (the issue measured kernels
 * 1.5-1.7x faster when the caller slept first). So a read first sleeps for
 * most of the time the submission is expected to take, measured from earlier
 * runs of the same executable, and only then asks Dawn to map: it polls
 * through the tail alone. A wrong estimate costs little: too short, it polls
 * a little longer (and learns the real time); too long, the work is found
 * done at once and the next read measures it again.
 */

/** Fraction of the expected time a read sleeps before polling. */
const SLEEP_FRACTION = 0.8;
/** No sleep below this many ms: a timer's own latency is about 1 ms. */
const MIN_SLEEP_MS = 2;

/** Switch (for benchmarks comparing both ways): when off, reads poll at once. */
export const pacing = { enabled: true };

/** How long submissions of one executable take, from submit to completion (ms). */
export class RunTimeEstimate {
  private ms: number | undefined;

  /** The expected time (ms), once a submission was seen complete. */
  get expectedMs(): number | undefined {
    return this.ms;
  }

  /**
   * A submission took `took` ms (`exact`: polling saw it complete), or at most
   * `took` ms (it was already complete when polling began).
   */
  observe(took: number, exact: boolean): void {
    // An estimate found too long is dropped: the next read polls from the start and measures the run again
    // (so a first run slowed by lazy shader compilation costs one oversleep, where a running average, which
    // learns only "at most the sleep" from such reads, would shrink by a fifth per call).
    this.ms = exact ? took : undefined;
  }

  /** How long a read should sleep, `elapsed` ms after its submission, before it polls. */
  sleepMs(elapsed: number): number {
    if (!pacing.enabled || this.ms === undefined) return 0;
    const left = SLEEP_FRACTION * this.ms - elapsed;
    return left >= MIN_SLEEP_MS ? left : 0;
  }

  /** Sleeps until the submission started at `submittedAt` is probably almost done. */
  async waitBeforePolling(submittedAt: number): Promise<void> {
    const ms = this.sleepMs(performance.now() - submittedAt);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
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
      // Resolved at once: the work ended before `start` (an upper bound, which shrinks a too-long estimate).
      const alreadyDone = end - start < ALREADY_DONE_MS;
      this.estimate.observe((alreadyDone ? start : end) - this.submittedAt, !alreadyDone);
    }
    return result;
  }
}
