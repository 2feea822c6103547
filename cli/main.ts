#!/usr/bin/env node
/**
 * The `moeforge` command line: `compile` (ahead-of-time export), `ir` (print
 * the program) and `check` (gradient checks). A thin layer over aot/ and the
 * public API: argument parsing, progress on stderr, results on stdout (`--json`
 * for machines), and every usage or model error as one line with exit code 2.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { checkCommand, compileCommand, irCommand } from "./commands";
import { CliError, EXIT_USAGE } from "./errors";
import { createReporter } from "./report";

type Options = NonNullable<ParseArgsConfig["options"]>;

const COMMON: Options = {
  export: { type: "string", short: "e" },
  dims: { type: "string", short: "d" },
  json: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
};

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: Options;
  readonly help: string;
  run(file: string, values: Record<string, string | boolean | undefined>, json: boolean): Promise<string>;
}

const MODEL_HELP = `  <model.ts>              a TypeScript (or JavaScript) module; its imports of "moeforge" resolve to this moeforge
  --export, -e <name>     the exported function to trace; the module also exports <name>Inputs, the shapes of
                          its arguments: { params: { w: ["D", "H"] }, x: ["T", "D"] } (a dim is a number or a name)
  --dims, -d <list>       NAME=SIZE or NAME=dynamic, comma-separated: binds every named dim of the inputs
                          (dynamic dims stay symbolic: one build serves every size); a dynamic dim may be
                          constrained: T=dynamic:16..4096 (a range), T=dynamic:%8 (a multiple of 8), both:
                          T=dynamic:16..4096:%8; the host code checks them before launching`;
const COMMON_HELP = `  --json                  print the result as JSON
  --quiet, -q             no progress on stderr
  --verbose, -v           stack traces with errors
  --help, -h              this help`;

const str = (v: string | boolean | undefined): string | undefined => (typeof v === "string" ? v : undefined);

function required(values: Record<string, string | boolean | undefined>, name: string, command: string): string {
  const v = str(values[name]);
  if (v === undefined)
    throw new CliError(`moeforge ${command}: --${name} is required (see moeforge ${command} --help)`);
  return v;
}

const COMMANDS: Record<string, Command> = {
  compile: {
    summary: "export a model's kernels, manifest, TypeScript host module and CUDA C API",
    usage:
      "moeforge compile <model.ts> --export <name> --dims T=dynamic,D=512 --target wgsl,cuda " +
      "[--grad] [--name <id>] [--params <weights.safetensors>] --out <dir>",
    options: {
      ...COMMON,
      target: { type: "string", short: "t" },
      device: { type: "string" },
      grad: { type: "boolean" },
      name: { type: "string" },
      out: { type: "string", short: "o" },
      params: { type: "string", short: "p" },
    },
    help: `${MODEL_HELP}
  --target, -t <list>     wgsl, cuda or both (default wgsl)
  --device <class>        schedule for a device class: cpu (CPU adapters such as SwiftShader: barrier-free
                          register-tiled GEMMs, thread-per-row reductions), discrete or integrated (default:
                          the GPU schedule, shared-memory tiles)
  --grad                  also the backward: forward saves activations, backward returns the inputs' gradients
  --name <id>             identifier of the export: file names, create<Name>(), the C prefix (default: --export)
  --out, -o <dir>         output directory (created); writes kernels/, manifest.json, <id>.ts, <id>.cu/.h
  --params, -p <file>     a safetensors file of weights: each tensor, named by its input's path (params.w1 or
                          w1), must match that input's dtype and shape; create<Name>(device, { weights }) then
                          reads those inputs from a safetensors buffer by name, and forward takes the others
${COMMON_HELP}`,
    async run(file, values, json) {
      const result = await compileCommand(
        {
          file,
          export: required(values, "export", "compile"),
          ...(str(values.dims) !== undefined ? { dims: str(values.dims)! } : {}),
          ...(str(values.target) !== undefined ? { target: str(values.target)! } : {}),
          ...(str(values.device) !== undefined ? { device: str(values.device)! } : {}),
          grad: values.grad === true,
          ...(str(values.name) !== undefined ? { name: str(values.name)! } : {}),
          out: required(values, "out", "compile"),
          ...(str(values.params) !== undefined ? { params: str(values.params)! } : {}),
        },
        reporter(values),
      );
      return json ? JSON.stringify(result, null, 2) : result.files.map((f) => `${result.out}/${f}`).join("\n");
    },
  },
  ir: {
    summary: "print the traced program (and its gradient programs, and the kernel list)",
    usage: "moeforge ir <model.ts> --export <name> [--dims ...] [--grad] [--optimized] [--kernels]",
    options: { ...COMMON, grad: { type: "boolean" }, optimized: { type: "boolean" }, kernels: { type: "boolean" } },
    help: `${MODEL_HELP}
  --grad                  print the forward (with saved activations) and backward programs
  --optimized             after the graph passes (simplify, fold, CSE, DCE)
  --kernels               also list the WGSL kernels and launches
${COMMON_HELP}`,
    async run(file, values, json) {
      const r = await irCommand(
        {
          file,
          export: required(values, "export", "ir"),
          ...(str(values.dims) !== undefined ? { dims: str(values.dims)! } : {}),
          grad: values.grad === true,
          optimized: values.optimized === true,
          kernels: values.kernels === true,
        },
        reporter(values),
      );
      return json ? JSON.stringify(r.json, null, 2) : r.text;
    },
  },
  check: {
    summary: "check the model's gradients (checkGrads, f64, random inputs): a pass/fail table per parameter",
    usage: "moeforge check <model.ts> --export <name> [--dims ...] [--size N] [--seed S]",
    options: { ...COMMON, size: { type: "string" }, seed: { type: "string" } },
    help: `${MODEL_HELP}
  --size <n>              the value of every dynamic dim (default 5)
  --seed <s>              seed of the random inputs and directions (default 0)
${COMMON_HELP}`,
    async run(file, values, json) {
      const int = (name: string, fallback: number) => {
        const v = str(values[name]);
        if (v === undefined) return fallback;
        if (!/^\d+$/.test(v)) throw new CliError(`--${name}: "${v}" is not a non-negative integer`);
        return Number(v);
      };
      const rows = await checkCommand(
        {
          file,
          export: required(values, "export", "check"),
          ...(str(values.dims) !== undefined ? { dims: str(values.dims)! } : {}),
          size: int("size", 5),
          seed: int("seed", 0),
        },
        reporter(values),
      );
      const failed = rows.filter((r) => !r.ok).length;
      if (failed) process.exitCode = 1;
      if (json) return JSON.stringify({ passed: rows.length - failed, failed, rows }, null, 2);
      const width = Math.max(9, ...rows.map((r) => r.parameter.length));
      const lines = rows.map((r) => `${r.parameter.padEnd(width)}  ${r.ok ? "pass" : `FAIL  ${r.message}`}`);
      return [
        `${"parameter".padEnd(width)}  result`,
        ...lines,
        `${rows.length - failed} passed, ${failed} failed`,
      ].join("\n");
    },
  },
};

function reporter(values: Record<string, string | boolean | undefined>) {
  return createReporter(process.stderr, values.quiet === true);
}

function mainHelp(): string {
  const list = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(9)} ${c.summary}`);
  return `moeforge: Mixture-of-Experts models as pure functions; kernels ahead of time.

usage: moeforge <command> [options]   (moeforge <command> --help for its options)

commands:
${list.join("\n")}`;
}

/** Runs the CLI on `argv` (without node and the script); returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const verbose = argv.includes("--verbose") || argv.includes("-v");
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      process.stdout.write(mainHelp() + "\n");
      return name === undefined ? EXIT_USAGE : 0;
    }
    const command = COMMANDS[name];
    if (!command) throw new CliError(`unknown command "${name}"; expected one of ${Object.keys(COMMANDS).join(", ")}`);
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: [...rest], options: command.options, allowPositionals: true, strict: true });
    } catch (e) {
      throw new CliError(`moeforge ${name}: ${(e as Error).message}`);
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    if (values.help) {
      process.stdout.write(`usage: ${command.usage}\n\n${command.summary}\n\n${command.help}\n`);
      return 0;
    }
    if (parsed.positionals.length !== 1) {
      const got = parsed.positionals.length ? parsed.positionals.join(" ") : "none";
      throw new CliError(`moeforge ${name}: expected one model file, got ${got} (usage: ${command.usage})`);
    }
    const out = await command.run(parsed.positionals[0]!, values, values.json === true);
    process.stdout.write(out + "\n");
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CliError) {
      // One line: an op's error may go on with the call site ("    at file:line"), which location already gives.
      const [first, ...more] = e.message.split("\n");
      process.stderr.write(`moeforge: error: ${e.location ? `${e.location}: ` : ""}${first}\n`);
      if (verbose && more.length) process.stderr.write(`${more.join("\n")}\n`);
      if (verbose && e.cause instanceof Error) process.stderr.write(`${e.cause.stack}\n`);
      return EXIT_USAGE;
    }
    // A bug in moeforge (not the user's input): say so, with the stack.
    process.stderr.write(`moeforge: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 70;
  }
}

/** Run as a command (also through npm's `.bin/moeforge` symlink), not imported. */
function isEntry(script: string | undefined): boolean {
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry(process.argv[1])) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
