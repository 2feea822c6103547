// Builds the published package into dist/: ESM bundles with source maps (esbuild) and
// declarations (tsc -p tsconfig.build.json). Entry points: index.ts ("moeforge"),
// cuda.ts ("moeforge/cuda"), and cli/main.ts (the `moeforge` command) when it exists.
// Shared code goes to dist/chunks/, so both subpaths share one registry of backends.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const entries = ["index.ts", "cuda.ts", "cli/main.ts"].filter((e) => existsSync(join(root, e)));

rmSync(dist, { recursive: true, force: true });

await build({
  absWorkingDir: root,
  entryPoints: entries,
  outdir: dist,
  outbase: root,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  sourcemap: true,
  // Node built-ins are reached only by moeforge/cuda (and at run time by the cpu pool);
  // "webgpu" (Dawn) is an optional peer dependency loaded on demand.
  external: ["node:*", "webgpu"],
  packages: "external",
  chunkNames: "chunks/[name]-[hash]",
  // package.json's "sideEffects" is for consumers' bundlers (only the entries register backends);
  // here it would drop the side-effect imports that do the registering (`import "./backends/cpu"`).
  ignoreAnnotations: true,
  logLevel: "warning",
});

const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });

/** Every .d.ts under `dir`. */
function declarations(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return declarations(p);
    return p.endsWith(".d.ts") ? [p] : [];
  });
}

// The sources import without extensions (moduleResolution "bundler"); consumers under
// node16/nodenext need the real file names, so each relative specifier gets its ".js" or "/index.js".
const specifier = /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(["'])(\.\.?\/[^"']*)\2/g;
for (const file of declarations(dist)) {
  const text = readFileSync(file, "utf8").replace(specifier, (whole, lead, quote, spec) => {
    const target = resolve(dirname(file), spec);
    if (existsSync(target + ".d.ts")) return `${lead}${quote}${spec}.js${quote}`;
    if (existsSync(join(target, "index.d.ts"))) return `${lead}${quote}${spec}/index.js${quote}`;
    throw new Error(`build: ${relative(root, file)} imports ${spec}, which has no declaration file`);
  });
  writeFileSync(file, text);
}

// GPUDevice and friends come from @webgpu/types (a dependency): the entry declarations reference it.
for (const entry of ["index.d.ts", "cuda.d.ts"]) {
  const file = join(dist, entry);
  if (existsSync(file)) writeFileSync(file, `/// <reference types="@webgpu/types" />\n` + readFileSync(file, "utf8"));
}

// The CLI copies the host runtime's source into every generated module, and the manifest's
// JSON Schema ships for users' tools.
if (entries.includes("cli/main.ts")) {
  copyFileSync(join(root, "aot", "host_runtime.ts"), join(dist, "cli", "host_runtime.ts.txt"));
  copyFileSync(join(root, "aot", "manifest.schema.json"), join(dist, "manifest.schema.json"));
}

console.log(`build: ${entries.join(", ")} -> ${relative(root, dist)}/`);
