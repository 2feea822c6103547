/**
 * Loads a user's model module: esbuild bundles it (TypeScript, its relative
 * imports, any npm packages it uses) into one temporary ESM file, with every
 * `moeforge` import pointing at the very moeforge this CLI runs on (external,
 * so the model's tensors and the CLI's tracer are the same classes), then
 * imports it. Errors name the model's file and line.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, type Message, type Plugin } from "esbuild";
import { CliError } from "./errors";

/** The package entry this CLI runs on: index.ts from source, index.js when built. */
function packageEntry(): string {
  for (const name of ["../index.ts", "../index.js"]) {
    const path = fileURLToPath(new URL(name, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error("internal: cannot find moeforge's package entry next to the CLI");
}

/** Resolves `moeforge` (and `moeforge/...` subpaths of the entry) to this package, as an external import. */
function moeforgePlugin(entry: string): Plugin {
  return {
    name: "moeforge-self",
    setup(b) {
      b.onResolve({ filter: /^moeforge$/ }, () => ({ path: pathToFileURL(entry).href, external: true }));
    },
  };
}

function where(m: Message): string | undefined {
  return m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}` : undefined;
}

/** What `loadModel` returns: the module's exports and the model file's path as the user gave it. */
export interface LoadedModel {
  readonly file: string;
  readonly exports: Readonly<Record<string, unknown>>;
}

/**
 * Bundles and imports `file`.
 * @example const { exports } = await loadModel("examples/switch.ts");
 */
export async function loadModel(file: string): Promise<LoadedModel> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`${file}: no such file`);
  if (!statSync(path).isFile()) throw new CliError(`${file}: not a file`);
  const display = isAbsolute(file) ? file : relative(process.cwd(), path);
  // The bundle's path is chosen first so its inline source map points back at the model's files.
  const dir = mkdtempSync(join(tmpdir(), "moeforge-model-"));
  const bundled = join(dir, "model.mjs");
  let code: string;
  try {
    const out = await build({
      entryPoints: [path],
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      write: false,
      outfile: bundled,
      sourcemap: "inline",
      logLevel: "silent",
      plugins: [moeforgePlugin(packageEntry())],
    });
    code = out.outputFiles[0]!.text;
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors;
    const first = errors?.[0];
    rmSync(dir, { recursive: true, force: true });
    if (!first) throw e;
    throw new CliError(`${first.text}${errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : ""}`, {
      location: where(first),
      cause: e,
    });
  }
  // Source maps make stack traces of the model (e.g. a throw while tracing) point at its .ts lines.
  process.setSourceMapsEnabled(true);
  writeFileSync(bundled, code);
  try {
    const exports = (await import(pathToFileURL(bundled).href)) as Record<string, unknown>;
    return { file: display, exports };
  } catch (e) {
    throw new CliError(`loading the model failed: ${(e as Error).message ?? String(e)}`, {
      location: userFrame(e, path),
      cause: e,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The first stack frame of `e` inside the user's model file, as `file:line:column`
 * (relative to the working directory), or the first frame in any file it bundled.
 */
export function userFrame(e: unknown, modelPath: string): string | undefined {
  const stack = e instanceof Error ? (e.stack ?? "") : "";
  const frames = [...stack.matchAll(/\(?((?:file:\/\/)?\/[^\s():]+):(\d+):(\d+)\)?/g)].map((m) => ({
    file: m[1]!.startsWith("file://") ? fileURLToPath(m[1]!) : m[1]!,
    line: m[2]!,
    column: m[3]!,
  }));
  const pick = frames.find((f) => f.file === modelPath);
  return pick ? `${relative(process.cwd(), pick.file) || pick.file}:${pick.line}:${pick.column}` : undefined;
}
