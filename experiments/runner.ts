/** Runs one experiment and writes its results (`<name>.json`) and plot (`<name>.svg`). */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExperimentResult, ExperimentSize } from "./experiment";
import { loadExperiment } from "./registry";
import { renderPlot } from "./svg";

export interface ExperimentRun {
  name: string;
  size: ExperimentSize;
  seconds: number;
  result: ExperimentResult;
  jsonPath: string;
  svgPath: string;
}

/**
 * Loads, runs and records an experiment under `outDir`.
 * @example const { result, svgPath } = await runExperiment("local_experts", { size: "reduced", outDir: "out/experiments" });
 */
export async function runExperiment(name: string, opts: { size: ExperimentSize; outDir: string }): Promise<ExperimentRun> {
  const mod = await loadExperiment(name);
  mkdirSync(opts.outDir, { recursive: true });
  const start = performance.now();
  const result = await mod.run({ size: opts.size, outDir: opts.outDir });
  const seconds = Number(((performance.now() - start) / 1000).toFixed(2));
  const jsonPath = join(opts.outDir, `${name}.json`);
  writeFileSync(jsonPath, JSON.stringify({ experiment: name, size: opts.size, seconds, result }, null, 2) + "\n");
  const spec = typeof mod.plotSpec === "function" ? mod.plotSpec(result) : mod.plotSpec;
  const svgPath = join(opts.outDir, `${name}.svg`);
  writeFileSync(svgPath, renderPlot(spec));
  return { name, size: opts.size, seconds, result, jsonPath, svgPath };
}

/** The result's top-level numbers, strings and booleans as `key=value` pairs (small objects of those too), for a console summary. */
export function headline(result: ExperimentResult): string {
  const simple = (v: unknown) => v === null || ["number", "string", "boolean"].includes(typeof v);
  return Object.entries(result)
    .flatMap(([k, v]) => {
      if (simple(v)) return [`${k}=${v}`];
      if (v && typeof v === "object" && !Array.isArray(v) && Object.values(v).every(simple) && Object.keys(v).length <= 6) {
        return [`${k}={${Object.entries(v).map(([a, b]) => `${a}: ${b}`).join(", ")}}`];
      }
      if (Array.isArray(v) && v.length <= 8 && v.every((x) => typeof x === "number")) return [`${k}=[${v.join(", ")}]`];
      return [];
    })
    .join("  ");
}
