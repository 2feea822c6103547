/**
 * The example models the export tests compile (small dims: SwiftShader is
 * slow), their inputs for a given T and routing scenario, and helpers to
 * compile them through the CLI and bundle the generated host module.
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { loadModel } from "../../cli/load";
import { parseDims } from "../../aot/dims";
import { traceModel, type TracedModel } from "../../aot/export";
import { evalDim, type Dim } from "../../dsl/dims";
import type { DynamicDim } from "../../aot/dims";
import { dimEnv } from "../../aot/manifest";
import { REPO, runCli } from "./run_cli";

export interface ExampleModel {
  readonly file: string;
  readonly export: string;
  readonly dims: string;
  /** For routed models: the router's pytree path and how many experts each token picks. */
  readonly router?: { readonly path: string; readonly k: number };
}

export const EXAMPLES: readonly ExampleModel[] = [
  {
    file: "examples/switch.ts",
    export: "switchLayer",
    dims: "T=dynamic,D=8,H=16,E=4",
    router: { path: "params.router", k: 1 },
  },
  {
    file: "examples/mixtral.ts",
    export: "mixtralLayer",
    dims: "T=dynamic,D=8,H=16,E=4",
    router: { path: "params.router", k: 2 },
  },
  { file: "examples/hierarchical.ts", export: "hme", dims: "T=dynamic,D=8,O=4" },
  { file: "examples/local_experts.ts", export: "localExperts", dims: "T=dynamic,D=8,O=4,E=4" },
];

/** Compiles `m` through the CLI into a fresh directory; returns it. */
export async function compileExample(m: ExampleModel, targets: string, extra: readonly string[] = []): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), `moeforge-${m.export}-`));
  const r = await runCli([
    "compile",
    m.file,
    "--export",
    m.export,
    "--dims",
    m.dims,
    "--target",
    targets,
    "--grad",
    "--out",
    out,
    "--quiet",
    ...extra,
  ]);
  if (r.code !== 0) throw new Error(`compiling ${m.file} failed:\n${r.stderr}`);
  return out;
}

/** What an export depends on: every source the CLI runs (not the tests). */
const SOURCE_DIRS = ["aot", "autodiff", "backends", "cli", "codegen", "dsl", "examples", "moe"];

/** A hash of the sources an export is made from (file names and contents). */
function sourcesHash(): string {
  const h = createHash("sha256");
  const files = [
    ...SOURCE_DIRS.flatMap((d) =>
      readdirSync(join(REPO, d), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name)),
    ),
    join(REPO, "index.ts"),
    join(REPO, "package.json"),
  ].sort();
  for (const f of files) h.update(relative(REPO, f)).update("\0").update(readFileSync(f)).update("\0");
  return h.digest("hex").slice(0, 24);
}

const SHARED = join(tmpdir(), "moeforge-test-exports");
let sources: string | undefined;

/**
 * The export of `m` for wgsl and cuda with --grad, compiled once for the
 * current sources and shared by every test file (and later runs until a source
 * changes). Read-only: tests that write files write elsewhere.
 */
export async function sharedExport(m: ExampleModel): Promise<string> {
  sources ??= sourcesHash();
  const key = createHash("sha256").update(`${sources} ${m.file} ${m.export} ${m.dims}`).digest("hex").slice(0, 24);
  const dir = join(SHARED, key);
  if (existsSync(dir)) return dir;
  mkdirSync(SHARED, { recursive: true });
  // Exports of older sources go after a day.
  for (const old of readdirSync(SHARED)) {
    const path = join(SHARED, old);
    if (Date.now() - statSync(path).mtimeMs > 86_400_000) rmSync(path, { recursive: true, force: true });
  }
  const fresh = await compileExample(m, "wgsl,cuda");
  try {
    renameSync(fresh, dir); // atomic: another worker sees all of it or nothing
  } catch (e) {
    // Another test file made it first: use theirs.
    rmSync(fresh, { recursive: true, force: true });
    if (!existsSync(dir)) throw e;
  }
  return dir;
}

/** The traced program of `m` (what the CLI traces), for the interpreter. */
export async function traceExample(m: ExampleModel): Promise<TracedModel> {
  const { exports } = await loadModel(m.file);
  return traceModel(exports[m.export] as never, exports[`${m.export}Inputs`], parseDims(m.dims), m.export);
}

/** Bundles a generated host module for `platform` with esbuild; returns the JS and the files it bundled. */
export async function bundleModule(
  entry: string,
  platform: "node" | "browser",
): Promise<{ code: string; inputs: string[] }> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  return { code: r.outputFiles[0]!.text, inputs: Object.keys(r.metafile.inputs) };
}

/** Imports a generated host module in Node (bundled to plain JS first, outside `out`). */
export async function importModule(out: string, name: string): Promise<Record<string, unknown>> {
  const { code } = await bundleModule(join(out, `${name}.ts`), "node");
  const dir = mkdtempSync(join(tmpdir(), "moeforge-module-"));
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, code);
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A deterministic generator of distinct non-zero values in [-1, -0.05] ∪ [0.05, 1]. */
export function valueStream(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    const magnitude = 0.05 + 0.95 * ((u * 2) % 1);
    return u < 0.5 ? -magnitude : magnitude;
  };
}

export type Scenario = "random" | "oneExpert";

export interface CaseInputs {
  readonly shapes: number[][];
  readonly data: Float32Array[];
  readonly cotangents: { shape: number[]; data: Float32Array }[];
}

/**
 * Inputs for T tokens. "oneExpert": every token's features are positive and
 * the router's first column(s) dominate, so every token picks experts 0..k-1
 * and the others get no tokens (empty groups).
 */
export function caseInputs(
  m: ExampleModel,
  traced: TracedModel,
  T: number,
  scenario: Scenario,
  seed: number,
): CaseInputs {
  const next = valueStream(seed);
  const env = tokenEnv(m, T);
  const concrete = (shape: readonly Dim[]) => shape.map((d) => evalDim(d, env));
  const shapes = traced.inputs.leaves.map((l) => concrete(l.shape));
  const data = shapes.map((s, i) => {
    const a = Float32Array.from({ length: s.reduce((x, y) => x * y, 1) }, next);
    const path = traced.inputs.leaves[i]!.path;
    if (scenario === "oneExpert" && path === "x") a.forEach((v, j) => (a[j] = Math.abs(v)));
    if (scenario === "oneExpert" && path === m.router?.path) {
      const [, E] = s as [number, number];
      a.forEach((v, j) => (a[j] = j % E < m.router!.k ? 4 - 2 * (j % E) : v * 0.05));
    }
    return a;
  });
  const cotangents = traced.outputs.map((o) => {
    const shape = concrete(o.shape);
    return { shape, data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, next) };
  });
  return { shapes, data, cotangents };
}

/** The sizes of the dims a program of `m` uses when its token count is T (T, and T_div<K> for a multiple of K). */
export function tokenEnv(m: ExampleModel, T: number): Map<string, number> {
  const dynamic = new Map([...parseDims(m.dims)].filter((e): e is [string, DynamicDim] => typeof e[1] !== "number"));
  return dimEnv(dynamic, new Map([...dynamic.keys()].map((d) => [d, T])));
}

/** Experts each token picks under `router` (x @ router, top-k by value), to check a scenario is what it claims. */
export function routedExperts(x: Float32Array, router: Float32Array, D: number, E: number, k: number): Set<number> {
  const used = new Set<number>();
  for (let t = 0; t < x.length / D; t++) {
    const logits = Array.from({ length: E }, (_, e) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += x[t * D + d]! * router[d * E + e]!;
      return s;
    });
    const order = logits.map((v, e) => [v, e] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (const [, e] of order.slice(0, k)) used.add(e);
  }
  return used;
}

/** Max |got - want| relative to 1 + max |want|. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let err = 0;
  let scale = 1;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return Number.isFinite(err) ? err / scale : Infinity;
}

export const readText = (path: string) => readFileSync(path, "utf8");
