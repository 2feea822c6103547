/**
 * The published package as a user gets it: `npm pack` (which builds dist/),
 * `npm install <tarball>` into a fresh "type": "module" app, then, with no tsx
 * and no moeforge source files:
 *   1. plain `node` runs grad, jit on cpu and compile to WGSL (equal to the source build);
 *   2. a consumer `tsc` under nodenext and under bundler, "types": [] and no skipLibCheck,
 *      where an `@ts-expect-error` on a wrong matmul must be used (shape types survive);
 *   3. `esbuild --platform=browser` bundles an app importing moeforge, no Node built-ins;
 *   4. that bundle runs in headless Chromium: jit on webgpu (and cpu) equals the interpreter;
 *   5. publint and @arethetypeswrong/cli find no problems in the tarball.
 * One pack + install (beforeAll) is shared by all checks.
 * In CI a missing Chromium is a failure; locally the browser check is skipped loudly.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { publint } from "publint";
import { compile, grad, jit, ops, spec, tensor, trace, type Tensor } from "../../index";
import { chromiumAvailable, servePage, type PageServer } from "../helpers/chromium_page";
import { relativeError } from "../../testing/random_programs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURES = fileURLToPath(new URL("./app", import.meta.url));
const haveChromium = chromiumAvailable("the packaged-bundle-in-Chromium check");

/** Runs a command; fails the test with its output when it exits non-zero. */
function run(cmd: string, args: readonly string[], cwd: string): string {
  // No loaders inherited from the test runner: the app runs on plain Node.
  const env = { ...process.env, NODE_OPTIONS: "" };
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}) exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

let tmp = "";
let app = "";
let tarball = "";

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "moeforge-package-"));
  run("npm", ["pack", "--pack-destination", tmp, "--silent"], ROOT);
  const packed = readdirSync(tmp).filter((f) => f.endsWith(".tgz"));
  expect(packed).toHaveLength(1);
  tarball = join(tmp, packed[0]!);
  app = join(tmp, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  for (const f of readdirSync(FIXTURES)) copyFileSync(join(FIXTURES, f), join(app, f));
  // Dependencies come from npm's cache when it has them (CI installs them from the registry).
  run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--silent", tarball], app);
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("the packed tarball, installed into an app", () => {
  it("ships the build, a LICENSE and no sources, tests or tooling", () => {
    const files = filesUnder(join(app, "node_modules", "moeforge"));
    expect(files).toContain("LICENSE");
    expect(files).toContain("dist/index.js");
    expect(files).toContain("dist/index.d.ts");
    expect(files).toContain("dist/cuda.js");
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    expect(files.filter((f) => !/^(dist\/|LICENSE$|README\.md$|package\.json$)/.test(f))).toEqual([]);
  });

  it("1. plain node ESM: grad, jit(cpu) and compile(wgsl) equal the source build", () => {
    const out = JSON.parse(run(process.execPath, ["node_app.mjs"], app)) as {
      x: number[];
      w: number[];
      grad: number[];
      cpu: number[];
      wgsl: string[];
    };
    const loss = (x: Tensor, w: Tensor) => ops.sum(ops.square(ops.tanh(ops.matmul(x, w))));
    const [x, w] = [tensor(out.x, [2, 3]), tensor(out.w, [3, 4])];
    expect(out.grad).toEqual(Array.from(grad(loss, { argnums: 1 })(x, w).dataSync()));
    expect(out.grad.some((v) => v !== 0)).toBe(true);
    expect(out.cpu).toEqual(Array.from(jit(grad(loss, { argnums: 1 }), { backend: "cpu" })(x, w).dataSync()));
    const wgsl = compile(trace(loss, spec([2, 3]), spec([3, 4])), { target: "wgsl" }).kernels.map((k) => k.source);
    expect(out.wgsl).toEqual(wgsl);
    expect(out.wgsl.join("\n")).toContain("@compute");
  });

  it.each(["nodenext", "bundler"] as const)(
    "2. consumer tsc (%s, types: [], no skipLibCheck) sees the shape types",
    (resolution) => {
      const config = {
        compilerOptions: {
          target: "ES2022",
          module: resolution === "nodenext" ? "NodeNext" : "ESNext",
          moduleResolution: resolution === "nodenext" ? "NodeNext" : "Bundler",
          types: [],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          noImplicitOverride: true,
          noPropertyAccessFromIndexSignature: true,
          // Every declaration file is checked (moeforge's and @webgpu/types), TypeScript's own libs aside.
          skipLibCheck: false,
          skipDefaultLibCheck: true,
          noEmit: true,
        },
        files: ["consumer.ts", "browser_app.ts"],
      };
      const name = `tsconfig.${resolution}.json`;
      writeFileSync(join(app, name), JSON.stringify(config));
      const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
      const listed = run(process.execPath, [tsc, "-p", name, "--listFilesOnly"], app).split("\n");
      expect(listed.some((f) => f.endsWith("node_modules/moeforge/dist/index.d.ts"))).toBe(true);
      expect(listed.filter((f) => /\/moeforge\/.*(?<!\.d)\.ts$/.test(f) || f.includes("@types/node"))).toEqual([]);
      // An unused @ts-expect-error is itself an error, so exit 0 means the wrong matmul was rejected.
      run(process.execPath, [tsc, "-p", name], app);
    },
  );

  it("3. esbuild --platform=browser bundles an app importing moeforge, with no Node built-ins", async () => {
    const bundle = await browserBundle();
    const inputs = Object.keys(bundle.metafile.inputs);
    expect(inputs.some((f) => f.includes("node_modules/moeforge/dist/"))).toBe(true);
    expect(inputs.filter((f) => f.startsWith("node:") || !/^(node_modules\/|browser_app\.ts$)/.test(f))).toEqual([]);
    const imports = Object.values(bundle.metafile.outputs).flatMap((o) => o.imports);
    expect(imports.filter((i) => i.external)).toEqual([]);
  });

  describe.runIf(haveChromium)("4. the browser bundle in headless Chromium", () => {
    let server: PageServer | undefined;
    afterAll(async () => server?.close());

    it("jit on webgpu and on cpu (one thread) equal the interpreter; safetensors round-trip", async () => {
      server = await servePage((await browserBundle()).text);
      const result = (await server.page.evaluate(
        () => (globalThis as { moeforgeResult?: Promise<unknown> }).moeforgeResult,
      )) as {
        adapter: string;
        interp: number[][];
        webgpu: number[][];
        cpu: number[][];
        safetensors: { saved: unknown[]; loaded: unknown[] };
      };
      expect(result.adapter).toMatch(/\S/);
      expect(result.interp).toHaveLength(2);
      expect(result.interp.flat().some((v) => v !== 0)).toBe(true);
      for (const [i, want] of result.interp.entries()) {
        expect(relativeError(result.webgpu[i]!, want, 1e-15)).toBeLessThan(1e-5);
        expect(relativeError(result.cpu[i]!, want, 1e-15)).toBeLessThan(1e-5);
      }
      expect(result.safetensors.loaded).toEqual(result.safetensors.saved);
      expect(result.safetensors.saved.map((leaf) => (leaf as unknown[])[0])).toEqual(["f32", "f16", "i32"]);
    });
  });

  it("5. publint and @arethetypeswrong/cli find no problems", async () => {
    const bytes = readFileSync(tarball);
    const lint = await publint({ pack: { tarball: new Uint8Array(bytes).buffer }, level: "suggestion" });
    expect(lint.messages).toEqual([]);
    // ESM-only package: the esm-only profile skips the CJS and node10 resolutions it does not support.
    const attw = join(ROOT, "node_modules", "@arethetypeswrong", "cli", "dist", "index.js");
    run(process.execPath, [attw, tarball, "--profile", "esm-only", "--no-definitely-typed", "--no-color"], app);
  });

  it("6. the `moeforge` bin runs on plain Node and exports a user's model that imports the installed moeforge", () => {
    const bin = join(app, "node_modules", ".bin", "moeforge");
    expect(run(bin, ["--help"], app)).toMatch(/usage: moeforge <command>/);
    const out = join(tmp, "export");
    const args = ["compile", "tiny_model.ts", "--export", "layer", "--dims", "T=dynamic,D=4,H=3"];
    run(bin, [...args, "--target", "wgsl", "--grad", "--out", out], app);
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as { inputs: { path: string }[] };
    expect(manifest.inputs.map((i) => i.path)).toEqual(["w", "x"]);
    const host = readFileSync(join(out, "layer.ts"), "utf8");
    expect(host).toMatch(/export function createLayer\(device: GPUDevice/);
    expect(host).not.toMatch(/from "moeforge"/);
  });
});

let bundled: Promise<{ text: string; metafile: import("esbuild").Metafile }> | undefined;

/** The fixture browser app bundled from the installed package (built once). */
function browserBundle(): Promise<{ text: string; metafile: import("esbuild").Metafile }> {
  bundled ??= build({
    absWorkingDir: app,
    entryPoints: ["browser_app.ts"],
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    metafile: true,
    logLevel: "silent",
  }).then((r) => ({ text: r.outputFiles[0]!.text, metafile: r.metafile }));
  return bundled;
}
