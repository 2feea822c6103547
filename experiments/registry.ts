/**
 * The experiments, by name, in the order. Modules load lazily (by file
 * URL: running one experiment loads only its module), so an entry whose file
 * is missing (a typo in `file`) is reported by name at run time.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ExperimentModule } from "./experiment";

export const EXPERIMENTS = [
  { name: "local_experts", file: "local_experts.ts", title: "1. local experts specialise (Jacobs et al. 1991)" },
  { name: "em_vs_gradient", file: "em_vs_gradient.ts", title: "2. EM vs gradient ascent (Jordan & Jacobs 1994)" },
  {
    name: "load_balance",
    file: "load_balance.ts",
    title: "3. load balance: top-1 with/without the Switch aux loss / loss-free bias",
  },
  { name: "capacity", file: "capacity.ts", title: "4. capacity factor: drop fraction and task loss" },
  { name: "hash_routing", file: "hash_routing.ts", title: "5. hash routing vs learned top-1" },
  {
    name: "mixture_of_softmaxes",
    file: "mixture_of_softmaxes.ts",
    title: "6. mixture of softmaxes vs one softmax (Yang et al. 2018)",
  },
  { name: "meta_pi", file: "meta_pi.ts", title: "7. meta-pi on six speakers (Hampshire & Waibel 1992)" },
] as const;

export type ExperimentName = (typeof EXPERIMENTS)[number]["name"];

/** A registry entry: the experiment's name and its module file in experiments/. */
export interface ExperimentEntry {
  readonly name: string;
  readonly file: string;
  readonly title: string;
}

export const experimentNames = (): string[] => EXPERIMENTS.map((e) => e.name);

/**
 * Imports an experiment module and checks that it exports `run` and `plotSpec`.
 * @example const mod = await loadExperiment("meta_pi"); const result = await mod.run({ size: "reduced", outDir });
 */
export async function loadExperiment(
  name: string,
  entries: readonly ExperimentEntry[] = EXPERIMENTS,
): Promise<ExperimentModule> {
  const entry = entries.find((e) => e.name === name);
  if (!entry)
    throw new Error(
      `unknown experiment "${name}"; expected one of: ${entries.map((e) => e.name).join(", ")} (or "all")`,
    );
  const url = new URL(`./${entry.file}`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(
      `experiment "${name}" is registered, but its module experiments/${entry.file} does not exist (check its file name in the registry)`,
    );
  }
  const mod = (await import(url.href)) as Partial<ExperimentModule>;
  if (typeof mod.run !== "function")
    throw new Error(`experiments/${entry.file} must export \`async function run(opts)\``);
  if (mod.plotSpec === undefined)
    throw new Error(`experiments/${entry.file} must export \`plotSpec\` (a plot spec or a function of the result)`);
  return mod as ExperimentModule;
}
