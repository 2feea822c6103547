/**
 * Bad input to the CLI: each case is one line on stderr, naming what was
 * wrong (and the model's file:line where it applies), exit code 2, no stack
 * trace unless --verbose.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { saveSafetensors, tensor } from "../../index";
import { runCli, spawnCli } from "./run_cli";

const dir = mkdtempSync(join(tmpdir(), "moeforge-cli-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const out = join(dir, "out");
const SWITCH = ["examples/switch.ts", "--export", "switchLayer"];
const SWITCH_DIMS = "T=dynamic,D=8,H=8,E=4";
const FIXTURE = "test/cli/fixtures/throws.ts";

/** Runs `compile` and expects exit code 2 with one stderr line matching `pattern`. */
async function expectUsageError(args: readonly string[], pattern: RegExp): Promise<string> {
  const r = await runCli(["compile", ...args]);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("moeforge: error:"));
  expect(r.code, r.stderr).toBe(2);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack frames
  return lines[0]!;
}

describe("moeforge compile: bad input", () => {
  it("a missing model file", async () => {
    await expectUsageError(["nope/model.ts", "--export", "f", "--out", out], /nope\/model\.ts: no such file/);
  });

  it("a missing export lists the exported functions", async () => {
    await expectUsageError(
      [...SWITCH.slice(0, 2), "moeLayer", "--dims", SWITCH_DIMS, "--out", out],
      /examples\/switch\.ts: no export named "moeLayer" \(exported functions: switchLayer\)/,
    );
  });

  it("an export that is not a function", async () => {
    await expectUsageError(
      [FIXTURE, "--export", "notAFunction", "--dims", "T=dynamic", "--out", out],
      /export "notAFunction" is an object, not a function/,
    );
  });

  it("a function without an input description says what to export", async () => {
    await expectUsageError([FIXTURE, "--export", "noInputs", "--out", out], /no export named "noInputsInputs"/);
  });

  it("an unknown target", async () => {
    await expectUsageError(
      [...SWITCH, "--dims", SWITCH_DIMS, "--target", "wgsl,metal", "--out", out],
      /unknown target "metal"; expected .*wgsl, cuda/,
    );
  });

  it("malformed --dims", async () => {
    await expectUsageError(
      [...SWITCH, "--dims", "T=dynamic,D", "--out", out],
      /--dims: "D" is malformed; expected NAME=SIZE/,
    );
    await expectUsageError(
      [...SWITCH, "--dims", "T=-3", "--out", out],
      /T=-3: the size must be a positive integer or "dynamic"/,
    );
  });

  it("a dim the model needs but --dims does not give", async () => {
    await expectUsageError(
      [...SWITCH, "--dims", "T=dynamic,D=8,E=4", "--out", out],
      /the model needs dim H \(input params\.w1\), which --dims does not give; add H=<size> or H=dynamic/,
    );
  });

  it("a model that throws while tracing points at its line", async () => {
    await expectUsageError(
      [FIXTURE, "--export", "broken", "--dims", "T=dynamic,D=4", "--out", out],
      /test\/cli\/fixtures\/throws\.ts:6:\d+: broken failed while tracing: .*matmul/,
    );
    await expectUsageError(
      [FIXTURE, "--export", "throws", "--dims", "T=dynamic", "--out", out],
      /throws\.ts:16:\d+: throws failed while tracing: this model is not implemented yet/,
    );
  });

  it("a TypeScript syntax error names file:line:column", async () => {
    // Written here, not kept in the repository, where the type checker and linters would reject it.
    const file = join(dir, "syntax_error.ts");
    writeFileSync(
      file,
      [
        `import { type Tensor } from "moeforge";`,
        `export const fInputs = { x: ["T"] };`,
        `export function f(x: Tensor): Tensor {`,
        `  const y = ;`,
        `  return x;`,
        `}`,
      ].join("\n"),
    );
    await expectUsageError(
      [file, "--export", "f", "--dims", "T=dynamic", "--out", out],
      /syntax_error\.ts:4:13: Unexpected ";"/,
    );
  });

  it("an unwritable --out", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    await expectUsageError(
      [...SWITCH, "--dims", SWITCH_DIMS, "--out", join(file, "sub")],
      /--out .*a-file\/sub: cannot write there \(ENOTDIR\)/,
    );
  });

  it("--params: a missing file, a file that is not safetensors, a tensor no input takes", async () => {
    await expectUsageError(
      [...SWITCH, "--dims", SWITCH_DIMS, "--params", join(dir, "none.safetensors"), "--out", out],
      /--params .*none\.safetensors: no such file/,
    );
    const junk = join(dir, "junk.safetensors");
    writeFileSync(junk, "not safetensors at all");
    await expectUsageError(
      [...SWITCH, "--dims", SWITCH_DIMS, "--params", junk, "--out", out],
      /--params .*junk\.safetensors: header length \d+ does not fit the 22-byte buffer \(not a safetensors file\?\)/,
    );
    const typo = join(dir, "typo.safetensors");
    writeFileSync(typo, saveSafetensors({ rooter: tensor(new Float32Array(32), [8, 4]) }));
    await expectUsageError(
      [...SWITCH, "--dims", SWITCH_DIMS, "--params", typo, "--out", out],
      /tensor "rooter" matches no input of the model \(inputs: params\.router, params\.w1, params\.w2, x\)/,
    );
  });

  it("a dim constraint no value satisfies, and a size that breaks a reshape without one", async () => {
    await expectUsageError(
      [...SWITCH, "--dims", "T=dynamic:9..15:%8,D=8,H=8,E=4", "--out", out],
      /--dims: T=dynamic:9\.\.15:%8: no value of T is allowed/,
    );
    // Without the divisor the reshape into groups of 4 cannot be traced for every T: the model's line.
    await expectUsageError(
      ["test/cli/fixtures/token_groups.ts", "--export", "grouped", "--dims", "T=dynamic,D=8,O=4", "--out", out],
      /token_groups\.ts:\d+:\d+: grouped failed while tracing: .*reshape/,
    );
  });

  it("--verbose adds the stack trace", async () => {
    const r = await runCli([
      "compile",
      FIXTURE,
      "--export",
      "throws",
      "--dims",
      "T=dynamic",
      "--out",
      out,
      "--verbose",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it("the real entry point exits with code 2 and prints one line", () => {
    const r = spawnCli(["compile", "missing.ts", "--export", "f", "--out", out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("moeforge: error: missing.ts: no such file");
  });
});

describe("moeforge: help and usage", () => {
  it("--help per command lists its options", async () => {
    for (const [cmd, option] of [
      ["compile", "--target"],
      ["ir", "--optimized"],
      ["check", "--size"],
    ] as const) {
      const r = await runCli([cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`usage: moeforge ${cmd}`);
      expect(r.stdout).toContain(option);
    }
  });

  it("an unknown command or option is a usage error", async () => {
    expect((await runCli(["compiel"])).stderr).toMatch(/unknown command "compiel"; expected one of compile, ir, check/);
    const r = await runCli(["compile", ...SWITCH, "--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--bogus'/);
  });
});
