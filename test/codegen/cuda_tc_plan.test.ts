/**
 * The host side of `npm run cuda:tc` (scripts/cuda_tc_plan.ts) without a GPU: its cases compile under both
 * schedules (FMA: no mma; TF32: every GEMM an mma kernel), the large case is checked against the FMA run
 * (an interpreter run would take minutes), peaks and the PyTorch peers' lines are read as the report needs.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import "../../codegen/index";
import { GROUPED_BENCH, parseTorch, peakFor, RTOL, schedules, tcCases, throughput } from "../../scripts/cuda_tc_plan";

describe("cuda:tc plan", () => {
  it("compiles every case under the FMA and the TF32 schedule; TF32 renders their GEMMs with mma", () => {
    const cases = tcCases();
    expect(cases.map((c) => c.oracle)).toEqual([
      "interpreter",
      "interpreter",
      "interpreter",
      "interpreter",
      "interpreter",
      "fma",
    ]);
    const { M, K, N } = GROUPED_BENCH;
    expect(cases.at(-1)!.flops).toBe(2 * M * K * N);
    const s = schedules();
    for (const c of cases) {
      const fma = compile(c.program, s.fma);
      const tf32 = compile(c.program, s.tf32);
      expect(
        fma.kernels.some((k) => /mma\.sync/.test(k.source)),
        c.name,
      ).toBe(false);
      const gemms = tf32.kernels.filter((k) => /matmul/.test(k.name));
      expect(gemms.length, c.name).toBeGreaterThan(0);
      for (const k of gemms) expect(k.source, `${c.name}: ${k.name}`).toMatch(/mma\.sync/);
    }
    expect(RTOL.tf32).toBeGreaterThan(RTOL.fma);
  }, 60_000);

  it("knows the peaks of the GPUs it is meant for, and none of others", () => {
    expect(peakFor("GPU 0: NVIDIA H200 (UUID: GPU-1)")).toEqual({ f32: 67, tf32: 494.7 });
    expect(peakFor("GPU 0: NVIDIA A100-SXM4-80GB")?.tf32).toBe(156);
    expect(peakFor("GPU 0: NVIDIA GeForce GTX 1080")).toBeUndefined();
  });

  it("reads the peers' lines and reports throughput against a peak", () => {
    const out =
      "torch device NVIDIA H200\ntorch MoE fwd 0.512 ms\ntorch cublas grouped tf32 0.0431 ms\n" +
      "torch matmul 1024^3 0.101 ms 21262.0 GFLOP/s (f32, no TF32)\nnoise 3 ms\n";
    expect([...parseTorch(out)]).toEqual([
      ["MoE fwd", 0.512],
      ["cublas grouped tf32", 0.0431],
      ["matmul 1024^3", 0.101],
    ]);
    expect(throughput(2e9, 0.01, 400)).toBe("200.0 TFLOP/s (50% of 400)");
    expect(throughput(2e9, 0.01)).toBe("200.0 TFLOP/s");
  });
});
