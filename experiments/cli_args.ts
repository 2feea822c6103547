/** Command-line parsing for `experiments/run.ts`. */
import { EXPERIMENTS, experimentNames } from "./registry";

export const USAGE = `usage: npm run experiments -- <name...|all> [--reduced] [--out DIR]

experiments:
${EXPERIMENTS.map((e) => `  ${e.name.padEnd(22)} ${e.title}`).join("\n")}

  --reduced   a small version that runs in seconds (what the tests run)
  --out DIR   where to write <name>.json and <name>.svg (default out/experiments)`;

export interface Args {
  names: string[];
  reduced: boolean;
  outDir: string;
}

/** Parses the command line; throws with the usage text on bad input. */
export function parseArgs(argv: readonly string[]): Args {
  const names: string[] = [];
  let reduced = false;
  let outDir = "out/experiments";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--reduced") reduced = true;
    else if (a === "--out") {
      const dir = argv[++i];
      if (!dir) throw new Error(`--out needs a directory\n\n${USAGE}`);
      outDir = dir;
    } else if (a.startsWith("-")) throw new Error(`unknown option ${a}\n\n${USAGE}`);
    else names.push(a);
  }
  if (names.length === 0) throw new Error(`name an experiment or "all"\n\n${USAGE}`);
  const expanded = names.includes("all") ? experimentNames() : names;
  const unknown = expanded.filter((n) => !experimentNames().includes(n));
  if (unknown.length) throw new Error(`unknown experiment(s): ${unknown.join(", ")}\n\n${USAGE}`);
  return { names: expanded, reduced, outDir };
}
