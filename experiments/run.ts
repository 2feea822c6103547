/**
 * `npm run experiments -- <name...|all> [--reduced] [--out DIR]`
 * Runs experiments and writes `<name>.json` and `<name>.svg` under DIR
 * (default out/experiments). See docs/EXPERIMENTS.md.
 */
import { parseArgs, USAGE, type Args } from "./cli_args";
import { headline, runExperiment } from "./runner";

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  let failed = 0;
  for (const name of args.names) {
    try {
      const r = await runExperiment(name, { size: args.reduced ? "reduced" : "full", outDir: args.outDir });
      const lines = headline(r.result)
        .split("\n")
        .map((l) => `  ${l}`);
      console.log([`${name} (${r.size}, ${r.seconds} s): ${r.jsonPath}, ${r.svgPath}`, ...lines].join("\n"));
    } catch (e) {
      failed++;
      console.error(`${name}: FAILED: ${(e as Error).message}`);
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
