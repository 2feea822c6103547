/** Command-line parsing for `experiments/run.ts`. */
import { parseArgs as parseCommandLine } from "node:util";
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
  let parsed;
  try {
    parsed = parseCommandLine({
      args: [...argv],
      allowPositionals: true,
      options: { reduced: { type: "boolean", default: false }, out: { type: "string", default: "out/experiments" } },
    });
  } catch (e) {
    const { code, message } = e as { code?: string; message: string };
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION")
      throw new Error(`unknown option ${/'([^']+)'/.exec(message)?.[1] ?? message}\n\n${USAGE}`, { cause: e });
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && message.includes("'--out"))
      throw new Error(`--out needs a directory\n\n${USAGE}`, { cause: e });
    throw new Error(`${message}\n\n${USAGE}`, { cause: e });
  }
  const { values, positionals: names } = parsed;
  if (names.length === 0) throw new Error(`name an experiment or "all"\n\n${USAGE}`);
  const expanded = names.includes("all") ? experimentNames() : names;
  const unknown = expanded.filter((n) => !experimentNames().includes(n));
  if (unknown.length) throw new Error(`unknown experiment(s): ${unknown.join(", ")}\n\n${USAGE}`);
  return { names: expanded, reduced: values.reduced, outDir: values.out };
}
