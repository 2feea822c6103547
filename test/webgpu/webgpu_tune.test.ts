/**
 * `npm run webgpu:tune` on a tiny candidate set and tiny programs: every
 * candidate is timed and checked against the interpreter, the winner is the
 * fastest correct one, `--save` writes it for this adapter, and a new context
 * on the same adapter compiles with the saved knobs (an elementwise kernel's
 * workgroup size shows it) and still gives the interpreter's values. Without
 * `--candidates` it times exactly the `SCHEDULE_CANDIDATES` of the adapter's
 * device class and saves the fastest of each kind, merged. Bad
 * tuning files and candidate lists fail naming the file and the knob.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { jit, ops, spec, trace, type Tensor } from "../../index";
import { runOnWebGPU, webgpuExecutable } from "../../backends/webgpu/backend";
import { checkCandidates } from "../../backends/webgpu/tune";
import {
  parseTuningFile,
  readTuningFile,
  saveTunedSchedule,
  setWebGPUTuning,
  webgpuTuning,
} from "../../backends/webgpu/tuning";
import { compile } from "../../codegen/compile";
import { SCHEDULE_CANDIDATES } from "../../codegen/schedule";
import { webgpuTune } from "../../scripts/webgpu_tune";
import { mulberry32, randomFloats, relativeError } from "../../testing/random_programs";
import { separateWebGPUForTests, webgpuForTests } from "./test_device";

const dir = mkdtempSync(join(tmpdir(), "moeforge-tune-"));
const previous = process.env.MOEFORGE_WEBGPU_TUNING;
process.env.MOEFORGE_WEBGPU_TUNING = join(dir, "tuning.json");
afterAll(() => {
  if (previous === undefined) delete process.env.MOEFORGE_WEBGPU_TUNING;
  else process.env.MOEFORGE_WEBGPU_TUNING = previous;
});

const ctx = await webgpuForTests();
const elementwise = trace((x: Tensor) => ops.exp(ops.mul(x, 2)), spec([300]));

describe.runIf(ctx)("webgpu:tune", () => {
  it("times each candidate, checks it, saves the fastest; a new context compiles with its knobs", async () => {
    const candidates = join(dir, "candidates.json");
    writeFileSync(
      candidates,
      JSON.stringify([
        { name: "default", knobs: {} },
        { name: "small", knobs: { elementwiseWorkgroup: 32, tileM: 16, tileN: 16, microM: 2, microN: 2 } },
      ]),
    );
    const lines: string[] = [];
    const args = ["--size", "tiny", "--programs", "matmul,moe-fwd", "--repeats", "2", "--candidates", candidates];
    const { rows, best, savedTo } = await webgpuTune([...args, "--save"], (l) => lines.push(l));
    expect(rows.map((r) => r.candidate.name)).toEqual(["default", "small"]);
    for (const r of rows) {
      expect(r.error).toBeUndefined();
      expect(r.ms).toHaveLength(2);
      expect(r.ms.every((ms) => ms > 0)).toBe(true);
      expect(r.maxError).toBeLessThan(1e-5);
    }
    expect(best!.totalMs).toBe(Math.min(...rows.map((r) => r.totalMs)));
    expect(lines.some((l) => l.startsWith(`best: ${best!.candidate.name}`))).toBe(true);
    expect(savedTo).toBe(process.env.MOEFORGE_WEBGPU_TUNING);
    const saved = readTuningFile(savedTo!).adapters[ctx!.adapterKey!]!;
    expect(saved.candidate).toBe(best!.candidate.name);

    // Whatever won, store knobs whose effect the kernels show.
    const file = JSON.parse(readFileSync(savedTo!, "utf8"));
    file.adapters[ctx!.adapterKey!].knobs = { elementwiseWorkgroup: 32 };
    writeFileSync(savedTo!, JSON.stringify(file));
    const fresh = (await separateWebGPUForTests({}))!;
    expect(fresh.adapterKey).toBe(ctx!.adapterKey);
    expect(webgpuTuning(fresh)).toEqual({ elementwiseWorkgroup: 32 });
    expect(webgpuExecutable(elementwise, fresh).bundle.kernels[0]!.workgroupSize).toBe(32);
    const x = randomFloats(mulberry32(3), "f32", [300]);
    const want = await jit((t: Tensor) => ops.exp(ops.mul(t, 2)), { backend: "interp" })(x).data();
    expect(relativeError(await runOnWebGPU(fresh, elementwise, [x])[0]!.data(), want)).toBeLessThan(1e-6);

    // setWebGPUTuning overrides the file; undefined means the default schedule.
    setWebGPUTuning(undefined, fresh);
    expect(webgpuExecutable(elementwise, fresh).bundle.kernels[0]!.workgroupSize).toBe(256);
  });

  it("by default times exactly the SCHEDULE_CANDIDATES of the adapter's class; the per-kind choice is saved and compiled with", async () => {
    const lines: string[] = [];
    const args = ["--size", "tiny", "--programs", "matmul", "--repeats", "1", "--save"];
    const { rows, choice, savedTo } = await webgpuTune(args, (l) => lines.push(l));
    const cls = ctx!.deviceProfile.class;
    const declared = SCHEDULE_CANDIDATES[cls];
    expect(rows.map((r) => r.candidate.name)).toEqual(declared.map((c) => c.id));
    expect(rows.map((r) => r.candidate.knobs)).toEqual(declared.map((c) => c.knobs));
    expect(lines[0]).toContain(`device class ${cls}`);
    // The choice: the fastest correct candidate of each kind, their knobs merged.
    const ok = rows.filter((r) => !r.error && r.maxError <= 1e-4);
    expect(ok.length).toBeGreaterThan(0);
    const kinds = [...new Set(declared.map((c) => c.kind))];
    const winners = kinds.flatMap((k) => {
      const of = ok.filter((r) => r.candidate.kind === k);
      return of.length ? [of.reduce((b, r) => (r.totalMs < b.totalMs ? r : b)).candidate] : [];
    });
    expect(choice!.name).toBe(winners.map((c) => c.name).join(" + "));
    expect(choice!.knobs).toEqual(Object.assign({}, ...winners.map((c) => c.knobs)));
    const saved = readTuningFile(savedTo!).adapters[ctx!.adapterKey!]!;
    expect(saved).toMatchObject({ candidate: choice!.name, knobs: choice!.knobs, deviceClass: cls });

    // A new context on the adapter compiles with the saved knobs.
    const matmul64 = trace((a: Tensor, b: Tensor) => ops.matmul(a, b), spec([32, 64]), spec([64, 64])); // N > skinnyN
    const sources = (p: typeof matmul64, knobs?: object) =>
      compile(p, { target: "wgsl", device: ctx!.deviceProfile, ...(knobs ? { knobs } : {}) }).kernels.map(
        (k) => k.source,
      );
    const fresh = (await separateWebGPUForTests({}))!;
    expect(webgpuTuning(fresh)).toEqual(choice!.knobs);
    expect(webgpuExecutable(matmul64, fresh).bundle.kernels.map((k) => k.source)).toEqual(
      sources(matmul64, choice!.knobs),
    );
    // ...and a different declared candidate, saved, is what the next context compiles with.
    const other = declared.filter((c) => c.kind === "matmul").at(-1)!;
    saveTunedSchedule(savedTo!, ctx!.adapterKey!, { candidate: other.id, knobs: other.knobs, tunedAt: "now" });
    const again = (await separateWebGPUForTests({}))!;
    const got = webgpuExecutable(matmul64, again).bundle.kernels.map((k) => k.source);
    expect(got).toEqual(sources(matmul64, other.knobs));
    expect(got).not.toEqual(sources(matmul64));
  }, 600_000);

  it("rejects a tuning file or candidate list that is not what the tuner writes", () => {
    expect(() => parseTuningFile("{", "t.json")).toThrow(/t\.json: not JSON/);
    expect(() => parseTuningFile('{"version":2,"adapters":{}}', "t.json")).toThrow(/expected \{"version": 1/);
    const bad = JSON.stringify({ version: 1, adapters: { a: { candidate: "x", knobs: { tileQ: 4 } } } });
    expect(() => parseTuningFile(bad, "t.json")).toThrow(/adapter "a".*"tileQ" is not a schedule knob/);
    expect(() => checkCandidates([{ name: "c", knobs: { tileM: -1 } }], "c.json")).toThrow(
      /c\.json, candidate "c": knob "tileM" is -1; expected a number > 0/,
    );
    expect(() => checkCandidates([], "c.json")).toThrow(/non-empty array/);
  });
});
