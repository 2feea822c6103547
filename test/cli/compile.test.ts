/**
 * `moeforge compile` / `ir` / `check` without a device: the files an export
 * writes, the manifest (valid against the shipped JSON Schema, hash, tensors
 * by pytree path, dims as expressions), byte-identical output on recompiling,
 * and the ir and check commands' text and JSON.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv from "ajv";
import { afterAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../aot/manifest";
import { saveSafetensors, tensor } from "../../index";
import { EXAMPLES, compileExample, sharedExport } from "./examples";
import { REPO, runCli } from "./run_cli";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const files = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();

describe("moeforge compile", () => {
  const m = EXAMPLES[0]!;
  let first = "";

  it("writes kernels, the manifest, the host module and the CUDA launcher, header and example", async () => {
    first = await sharedExport(m);
    const list = files(first);
    for (const f of [
      "manifest.json",
      "switchLayer.ts",
      "switchLayer.cu",
      "switchLayer.h",
      "switchLayer_example.cpp",
      "kernels/forward.cu",
      "kernels/backward.cu",
    ])
      expect(list).toContain(f);
    expect(list.filter((f) => /^kernels\/(forward|backward)_.*\.wgsl$/.test(f)).length).toBeGreaterThan(10);
  });

  it("compiling again (another process, or this one: fresh variable ids) writes byte-identical files", async () => {
    const again = await compileExample(m, "wgsl,cuda");
    dirs.push(again);
    expect(files(again)).toEqual(files(first));
    for (const f of files(first))
      expect(readFileSync(join(again, f)).equals(readFileSync(join(first, f))), f).toBe(true);
  });

  it("the manifest is valid against the shipped JSON Schema and describes the export", () => {
    const manifest = JSON.parse(readFileSync(join(first, "manifest.json"), "utf8")) as Manifest;
    const schema = JSON.parse(readFileSync(join(REPO, "aot/manifest.schema.json"), "utf8")) as object;
    const validate = new Ajv({ allErrors: true }).compile(schema);
    expect(validate(manifest), JSON.stringify(validate.errors)).toBe(true);
    // A broken manifest is rejected (the schema is not vacuous).
    expect(validate({ ...manifest, schemaVersion: 2 })).toBe(false);

    const { contentHash, ...rest } = manifest;
    expect(contentHash).toBe(`sha256:${createHash("sha256").update(JSON.stringify(rest)).digest("hex")}`);
    expect(manifest.dims).toEqual({ T: "dynamic", D: 8, H: 16, E: 4 });
    expect(manifest.dynamicDims.T!.min).toBe(1);
    expect(manifest.inputs).toEqual([
      { path: "params.router", dtype: "f32", shape: [8, 4] },
      { path: "params.w1", dtype: "f32", shape: [4, 8, 16] },
      { path: "params.w2", dtype: "f32", shape: [4, 16, 8] },
      { path: "x", dtype: "f32", shape: ["T", 8] },
    ]);
    expect(manifest.outputs).toEqual([{ path: "output", dtype: "f32", shape: ["T", 8] }]);
    expect(manifest.gradients!.map((g) => g.path)).toEqual(manifest.inputs.map((i) => i.path));
    const fwd = manifest.programs.forward.wgsl!;
    expect(fwd.outputs).toHaveLength(1 + manifest.saved!.length);
    expect(manifest.programs.backward!.wgsl!.inputs).toHaveLength(4 + manifest.saved!.length + 1);
    // Every launch's grid and every buffer's size is an expression of T alone; sources match their hashes.
    const names = (e: unknown): string[] =>
      typeof e === "string" ? [e] : typeof e === "object" && e ? (e as { args: unknown[] }).args.flatMap(names) : [];
    for (const l of fwd.schedule) expect(names(l.grid).every((n) => n === "T")).toBe(true);
    expect(fwd.buffers.some((b) => names(b.size).includes("T"))).toBe(true);
    for (const k of fwd.kernels) {
      const source = readFileSync(join(first, k.file), "utf8");
      expect(createHash("sha256").update(source).digest("hex"), k.file).toBe(k.sha256);
      expect(k.bindings.map((b) => b.binding)).toEqual(k.bindings.map((_, i) => i));
      expect(k.uniforms).toEqual({
        binding: k.bindings.length,
        fields: ["mf_groups", ...(source.includes("mf_sizes.T") ? ["T"] : [])],
      });
    }
  });
});

describe("moeforge compile: dim constraints and --params in the manifest", () => {
  const schema = JSON.parse(readFileSync(join(REPO, "aot/manifest.schema.json"), "utf8")) as object;
  const validate = new Ajv({ allErrors: true }).compile(schema);

  it("a dim that must be a multiple of 4: its range, its divisor, the derived T_div4 the kernels use", async () => {
    const out = await compileExample(
      { file: "test/cli/fixtures/token_groups.ts", export: "grouped", dims: "T=dynamic:8..4096:%4,D=8,O=4" },
      "wgsl,cuda",
    );
    dirs.push(out);
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as Manifest;
    expect(validate(manifest), JSON.stringify(validate.errors)).toBe(true);
    expect(manifest.dims).toEqual({ T: "dynamic:8..4096:%4", D: 8, O: 4 });
    expect(manifest.dynamicDims).toEqual({ T: { min: 8, max: 4096, multipleOf: 4 } });
    expect(manifest.derivedDims).toEqual({ T_div4: { op: "floorDiv", args: ["T", 4] } });
    // Tensors show T itself; the programs run on T_div4.
    expect(manifest.inputs.map((t) => t.shape)).toEqual([
      [8, 4],
      ["T", 8],
    ]);
    expect(manifest.outputs[0]!.shape).toEqual(["T", 4]);
    expect(manifest.programs.forward.wgsl!.dims).toEqual(["T_div4"]);
    // The C launcher checks the dims and hands each bundle its own.
    const cu = readFileSync(join(out, "grouped.cu"), "utf8");
    expect(cu).toMatch(/static const long long grouped_dim_multiple\[\] = \{4\};/);
    expect(cu).toContain(`out[0] = dims[0] / 4;  // T_div4 = T / 4`);
    // The example driver's default T is allowed.
    expect(readFileSync(join(out, "grouped_example.cpp"), "utf8")).toMatch(/int64_t dims\[1\] = \{8\};/);
  });

  it("--json prints the files written as JSON on stdout; progress and timings go to stderr", async () => {
    const out = mkdtempSync(join(tmpdir(), "moeforge-json-"));
    dirs.push(out);
    const r = await runCli([
      "compile",
      "test/cli/fixtures/token_groups.ts",
      "--export",
      "grouped",
      "--dims",
      "T=dynamic:%4,D=8,O=4",
      "--out",
      out,
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { out: string; files: string[] };
    expect(result.out).toBe(out);
    expect(result.files).toEqual(expect.arrayContaining(["manifest.json", "grouped.ts"]));
    expect(r.stderr).toMatch(/^moeforge: bundling test\/cli\/fixtures\/token_groups\.ts \(\d+ ms\)$/m);
    expect(r.stderr).toMatch(/^moeforge: tracing grouped \(\d+ ms\)$/m);
    expect(r.stderr).toMatch(/^moeforge: compiling grouped for wgsl \(\d+ ms\)$/m);
    // --quiet: nothing on stderr.
    const quiet = await runCli([
      "ir",
      "test/cli/fixtures/token_groups.ts",
      "-e",
      "grouped",
      "-d",
      "T=dynamic:%4,D=8,O=4",
      "-q",
    ]);
    expect(quiet.stderr).toBe("");
    expect(quiet.stdout).toContain("f32[T_div4*4,8]");
  });

  it("--params records which inputs come from the safetensors file, by name", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moeforge-params-"));
    dirs.push(dir);
    const file = join(dir, "w.safetensors");
    writeFileSync(file, saveSafetensors({ params: { w: tensor(new Float32Array(32), [8, 4]) } }));
    const out = await compileExample(
      { file: "test/cli/fixtures/token_groups.ts", export: "grouped", dims: "T=dynamic:%4,D=8,O=4" },
      "wgsl",
      ["--params", file],
    );
    dirs.push(out);
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as Manifest;
    expect(validate(manifest), JSON.stringify(validate.errors)).toBe(true);
    expect(manifest.weights).toEqual([{ name: "params.w", path: "params.w", dtype: "f32", shape: [8, 4] }]);
    const host = readFileSync(join(out, "grouped.ts"), "utf8");
    expect(host).toMatch(
      /export function createGrouped\(\s*device: GPUDevice,\s*options: \{ readonly weights: ArrayBuffer \| ArrayBufferView/,
    );
    // forward takes only x: the type of its inputs has no params.
    expect(host).toMatch(/export type GroupedInputs<B = TensorInput> = \{ readonly x: B; \}/);
  });
});

describe("moeforge ir and check", () => {
  const m = EXAMPLES[3]!; // the mixture of local experts: small, every parameter differentiable

  it("ir prints the program, the forward/backward split and the kernels; --json gives the same", async () => {
    const args = ["ir", m.file, "--export", m.export, "--dims", m.dims, "--quiet"];
    const plain = await runCli(args);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^== forward: \d+ equations\nprogram\(%\d+:f32\[8,4\]/);
    const grad = await runCli([...args, "--grad", "--optimized", "--kernels"]);
    expect(grad.stdout).toMatch(/== forward \(optimized\)/);
    expect(grad.stdout).toMatch(/== backward \(optimized\)/);
    expect(grad.stdout).toMatch(/-- backward kernels: \d+ kernels, \d+ launches/);
    const json = JSON.parse((await runCli([...args, "--grad", "--json"])).stdout) as Record<
      string,
      { equations: number }
    >;
    expect(Object.keys(json)).toEqual(["forward", "backward"]);
    expect(json.backward!.equations).toBeGreaterThan(0);
  });

  it("check prints a pass/fail table per parameter", async () => {
    const r = await runCli([
      "check",
      m.file,
      "--export",
      m.export,
      "--dims",
      m.dims,
      "--size",
      "3",
      "--json",
      "--quiet",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const table = JSON.parse(r.stdout) as {
      passed: number;
      failed: number;
      rows: { parameter: string; ok: boolean }[];
    };
    expect(table.rows.map((row) => row.parameter)).toEqual([
      "params.gate.w",
      "params.gate.b",
      "params.experts.w",
      "params.experts.b",
      "x",
      "y",
    ]);
    expect(table).toMatchObject({ passed: 6, failed: 0 });
  });

  it("check moves --size into a constrained dim's allowed values (a multiple of 4: 5 -> 8)", async () => {
    const args = ["check", "test/cli/fixtures/token_groups.ts", "-e", "grouped", "-d", "T=dynamic:%4,D=8,O=4"];
    const r = await runCli([...args, "--size", "5", "--json", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ passed: 2, failed: 0 });
  });

  it("check fails (exit code 1, FAIL rows) for a model whose gradient is wrong", async () => {
    const r = await runCli([
      "check",
      "test/cli/fixtures/wrong_gradient.ts",
      "--export",
      "f",
      "--dims",
      "N=3",
      "--quiet",
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^w\s+FAIL/m);
    expect(r.stdout).toMatch(/0 passed, 1 failed/);
  });
});
