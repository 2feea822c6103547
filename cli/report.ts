/** Progress and timings on stderr (quiet with --json? no: stderr never mixes with the JSON on stdout). */
export interface Reporter {
  step<T>(what: string, body: () => Promise<T>): Promise<T>;
  stepSync<T>(what: string, body: () => T): T;
  note(what: string): void;
}

/** A reporter writing `moeforge: <step> (<ms> ms)` lines to `stream`, or nothing when `quiet`. */
export function createReporter(stream: NodeJS.WritableStream, quiet: boolean): Reporter {
  const write = (line: string) => {
    if (!quiet) stream.write(`moeforge: ${line}\n`);
  };
  const done = (what: string, t0: number) => write(`${what} (${Math.round(performance.now() - t0)} ms)`);
  return {
    async step(what, body) {
      const t0 = performance.now();
      const r = await body();
      done(what, t0);
      return r;
    },
    stepSync(what, body) {
      const t0 = performance.now();
      const r = body();
      done(what, t0);
      return r;
    },
    note: (what) => write(`  ${what}`),
  };
}
