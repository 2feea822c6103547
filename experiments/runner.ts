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
export async function runExperiment(
  name: string,
  opts: { size: ExperimentSize; outDir: string },
): Promise<ExperimentRun> {
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

/** A compact rendering of a result value, or undefined for what is too big to print (long arrays, deep nesting). */
function brief(v: unknown, depth: number): string | undefined {
  if (v === null || typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "string") return v.length <= 60 ? v : undefined;
  if (depth >= 3 || typeof v !== "object") return undefined;
  if (Array.isArray(v)) {
    if (v.length > 8) return undefined;
    const items = v.map((x) => brief(x, depth + 1));
    return items.every((x) => x !== undefined) ? `[${items.join(", ")}]` : undefined;
  }
  const fields = Object.entries(v).flatMap(([k, x]) => {
    const b = brief(x, depth + 1);
    return b === undefined ? [] : [`${k}: ${b}`];
  });
  return fields.length ? `{${fields.join(", ")}}` : undefined;
}

/**
 * One line per top-level entry of a result that is small enough to read
 * (numbers, short strings, small arrays and objects of those), for the console.
 * @example console.log(headline({ loss: 0.1, curve: [...1000 values] })) // "loss: 0.1"
 */
export function headline(result: ExperimentResult): string {
  return Object.entries(result)
    .flatMap(([k, v]) => {
      const b = brief(v, 0);
      return b === undefined ? [] : [`${k}: ${b}`];
    })
    .join("\n");
}
