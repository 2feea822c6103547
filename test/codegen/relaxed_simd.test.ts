/**
 * Relaxed SIMD on by default in Node (codegen/emit/wasm/relaxed_simd.ts), in
 * fresh processes (V8 flags are process-wide, so this test runner's own flag
 * settings must not decide it): Node 20 validates f32x4.relaxed_madd only behind
 * V8's flag, which the first choice sets; the contraction kernels are then the
 * relaxed_madd rendering, run split over the worker pool (whose threads
 * instantiate them) and match the interpreter. MOEFORGE_RELAXED_SIMD=0 keeps
 * mul + add and leaves the flag alone. Both multiply-add paths are checked
 * kernel by kernel in wasm_gemm.test.ts and wasm_fused_gemm.test.ts.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

interface ChildResult {
  enabled: boolean;
  reason: string;
  validates: boolean;
  relaxedModule: boolean;
  plainModule: boolean;
  split: boolean;
  error: number;
}

function child(env: Record<string, string>): ChildResult {
  const script = fileURLToPath(new URL("./relaxed_simd_child.ts", import.meta.url));
  const out = execFileSync(process.execPath, ["--import", "tsx", script], {
    encoding: "utf8",
    env: { ...process.env, MOEFORGE_CPU_THREADS: "2", MOEFORGE_CPU_TARGET: "wasm", ...env },
    timeout: 110_000,
  });
  return JSON.parse(out.trim().split("\n").at(-1)!) as ChildResult;
}

describe("relaxed SIMD by default on the cpu backend's wasm target", () => {
  it("is on in a fresh Node process: relaxed_madd kernels, run on the worker pool, equal to the interpreter", () => {
    const r = child({ MOEFORGE_RELAXED_SIMD: "" });
    expect(r).toMatchObject({ enabled: true, validates: true, relaxedModule: true, split: true });
    expect(r.reason).toMatch(/relaxed SIMD \(f32x4\.relaxed_madd\)/);
    expect(r.error).toBeLessThan(1e-5);
  });

  it("MOEFORGE_RELAXED_SIMD=0 keeps f32x4 mul + add (and sets no V8 flag), equal to the interpreter", () => {
    const r = child({ MOEFORGE_RELAXED_SIMD: "0" });
    const nodeFlagOnly = !process.versions.node || Number(process.versions.node.split(".")[0]) < 22;
    expect(r).toMatchObject({ enabled: false, plainModule: true, split: true });
    if (nodeFlagOnly) expect(r.validates).toBe(false);
    expect(r.reason).toMatch(/relaxed SIMD off \(MOEFORGE_RELAXED_SIMD\)/);
    expect(r.error).toBeLessThan(1e-5);
  });

  it("rejects a bad MOEFORGE_RELAXED_SIMD", () => {
    expect(() => child({ MOEFORGE_RELAXED_SIMD: "maybe" })).toThrow(
      /MOEFORGE_RELAXED_SIMD=maybe: expected 0\/off or 1\/on/,
    );
  });
});
