/**
 * The contract every experiment module follows: `run` computes the results
 * (a JSON-serialisable record) and `plotSpec` says how to draw them, either as
 * a fixed plot or as a function of the results.
 */
import type { PlotSpec } from "./svg";

/** How big a run is: "reduced" runs in seconds (used by the tests), "full" is the reported one. */
export type ExperimentSize = "full" | "reduced";

export interface ExperimentOptions {
  size: ExperimentSize;
  /** Where the runner writes `<name>.json` and `<name>.svg`; an experiment may put extra files there. */
  outDir: string;
}

export type ExperimentResult = Record<string, unknown>;

/** An experiment module: `export async function run(...)` and `export const plotSpec = ...`. */
export interface ExperimentModule<R extends ExperimentResult = ExperimentResult> {
  run(opts: ExperimentOptions): Promise<R>;
  plotSpec: PlotSpec | ((result: R) => PlotSpec);
}

export type { PlotSpec };

/** Progress output for the library's `train`: a labelled bar or lines on full runs, silent on reduced ones (tests). */
export const progressFor = (opts: ExperimentOptions, label: string): false | { label: string } =>
  opts.size === "full" ? { label } : false;
