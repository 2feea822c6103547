/** Training progress: a redrawn bar on a terminal, plain lines otherwise (logs, CI). */

/** Where progress goes: a writable with an optional `isTTY` (process.stderr by default). */
export interface ProgressStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
}

/** A progress reporter for `total` steps. */
export interface Progress {
  update(step: number, loss: number): void;
  done(): void;
}

/**
 * Creates a progress reporter: on a TTY, a bar redrawn in place
 * (`label [#####-----] 50/100 loss 0.1234 12.3 it/s`); otherwise one plain
 * line every `every` steps and at the end.
 * @example const bar = createProgress(100, { label: "train" }); bar.update(1, 0.5); bar.done();
 */
export function createProgress(
  total: number,
  options: { label?: string; stream?: ProgressStream; every?: number } = {},
): Progress {
  const stream = options.stream ?? process.stderr;
  const label = options.label ?? "train";
  const every = options.every ?? Math.max(1, Math.round(total / 10));
  const started = Date.now();
  let last = { step: 0, loss: NaN };
  const rate = (step: number) => step / Math.max(1e-3, (Date.now() - started) / 1000);
  const line = (step: number, loss: number) =>
    `${label} ${step}/${total} loss ${loss.toPrecision(5)} ${rate(step).toFixed(1)} it/s`;
  return {
    update(step, loss) {
      last = { step, loss };
      if (stream.isTTY) {
        const width = 24;
        const filled = Math.round((width * step) / total);
        stream.write(
          `\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${step}/${total} loss ` +
            `${loss.toPrecision(5)} ${rate(step).toFixed(1)} it/s `,
        );
      } else if (step % every === 0 || step === total) {
        stream.write(line(step, loss) + "\n");
      }
    },
    done() {
      if (stream.isTTY) stream.write("\n");
      else if (last.step % every !== 0 && last.step !== total) stream.write(line(last.step, last.loss) + "\n");
    },
  };
}
