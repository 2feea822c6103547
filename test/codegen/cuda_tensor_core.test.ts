/**
 * The CUDA tensor-core schedule (`tensorCoreMatmul`, sm_80+; off by default): which kernels it renders
 * as TF32 mma tiles, that it asks for a capable device, that the lowering it implies (plain operands,
 * B in 64-column panels, the FMA body on the tensor-core launch) equals the interpreter on the JS target,
 * and that every variant compiles with nvcc for sm_80 and sm_90 (SASS, so ptxas checks the mma and
 * cp.async operands). Running the mma kernels needs a GPU: `npm run cuda:check -- --tensor-cores`.
 */
import { describe, expect, it } from "vitest";
import { cudaBundleSource } from "../../backends/cuda/bundle";
import {
  compileCuda,
  DEFAULT_ARCHS,
  findNvcc,
  formatDiagnostics,
  HOST_WARNINGS_AS_ERRORS,
} from "../../backends/cuda/nvcc";
import { moePrograms } from "../../bench/moe_layer";
import { compile, type CompileOptions } from "../../codegen/compile";
import { cudaDeviceProfile } from "../../codegen/device";
import { tensorCoreSupport } from "../../codegen/emit/cuda_tensor_core";
import type { KernelBundle } from "../../codegen/kernel_ir";
import "../../codegen/index";
import * as ops from "../../dsl/ops";
import type { Program } from "../../dsl/program";
import { trace } from "../../dsl/api";
import { mulberry32, randomFloats, runAndCompare } from "../../testing/random_programs";
import type { Tensor } from "../../dsl/tensor";
import { blockInputs, blockPrograms, type BlockConfig } from "./grouped_gemm_cases";
import { compiledRunner } from "./runners";

const TC: Omit<CompileOptions, "target"> = { device: cudaDeviceProfile(8, 0), knobs: { tensorCoreMatmul: true } };
const CFG: BlockConfig = { T: 13, D: 5, H: 7, E: 4, K: 2 };
const LAYER = { T: 64, D: 16, H: 32, E: 4, K: 2 };

const tensorCoreKernels = (b: KernelBundle) => b.kernels.filter((k) => /mma\.sync/.test(k.source));

function denseProgram(): { program: Program; inputs: Tensor[] } {
  const rng = mulberry32(3);
  const inputs = [
    randomFloats(rng, "f32", [129, 65]),
    randomFloats(rng, "f32", [65, 97]),
    randomFloats(rng, "f32", [97]),
  ];
  const program = trace((x: Tensor, w: Tensor, b: Tensor) => ops.gelu(ops.add(ops.matmul(x, w), b)), ...inputs);
  return { program, inputs };
}

describe("tensor-core schedule: kernels", () => {
  it("is off by default: no CUDA kernel carries a Contraction or an mma", () => {
    const { forward, gradient } = moePrograms(LAYER);
    for (const p of [forward, gradient]) {
      const b = compile(p, { target: "cuda" });
      expect(b.kernels.filter((k) => k.contraction)).toEqual([]);
      expect(tensorCoreKernels(b)).toEqual([]);
    }
  });

  it("renders every expert GEMM of the layer, forward and gradient, as mma tiles (grouped, weight gradient, dense)", () => {
    const { forward, gradient } = moePrograms(LAYER);
    const fwd = compile(forward, { target: "cuda", ...TC });
    const grad = compile(gradient, { target: "cuda", ...TC });
    const gemms = (b: KernelBundle) => b.kernels.filter((k) => /ragged_matmul|_matmul$/.test(k.name));
    for (const b of [fwd, grad]) expect(tensorCoreKernels(b).map((k) => k.name)).toEqual(gemms(b).map((k) => k.name));
    expect(tensorCoreKernels(fwd)).toHaveLength(2);
    const kinds = tensorCoreKernels(grad).map((k) => k.contraction!.kind);
    expect(new Set(kinds)).toEqual(new Set(["grouped", "groupedWeightGrad", "dense"]));
    const records = [...tensorCoreKernels(fwd), ...tensorCoreKernels(grad)].map((k) => k.contraction!);
    // The token gather in A's copy, gate + up as siblings, dX of gate + up as one sum, epilogues kept.
    expect(records.some((c) => c.aIndex && c.sibling && c.epilogue)).toBe(true);
    expect(records.some((c) => c.plus)).toBe(true);
    expect(records.some((c) => c.kind === "groupedWeightGrad" && c.aIndex)).toBe(true);
    for (const k of tensorCoreKernels(grad)) {
      expect(k.workgroupSize).toBe(128);
      expect(k.source).toMatch(/cp\.async\.cg\.shared\.global/);
      expect(k.source).toMatch(/mf_cp_async16\(/);
    }
  });

  it("copies 4 bytes at a time where a row length is not a static multiple of 4 (D = 5)", () => {
    const b = compile(blockPrograms("swiglu", CFG).forward, { target: "cuda", ...TC });
    const first = tensorCoreKernels(b)[0]!;
    expect(first.source).toMatch(/mf_cp_async4\(&mf_sa/);
    expect(first.source).toMatch(/mf_cp_async16\(&mf_sb/); // B panels are always 64 floats wide
  });

  it("asks for a device of compute capability >= 8.0, and is ignored by targets without tensor cores", () => {
    const { forward } = moePrograms(LAYER);
    const knobs = { tensorCoreMatmul: true };
    expect(() => compile(forward, { target: "cuda", knobs })).toThrow(/compute capability >= 8.*no compute capability/);
    expect(() => compile(forward, { target: "cuda", knobs, device: cudaDeviceProfile(7, 5) })).toThrow(/got 7\.5/);
    const wgsl = compile(forward, { target: "wgsl", knobs, device: "discrete" });
    expect(wgsl.kernels.filter((k) => k.contraction)).toEqual([]);
  });

  it("falls back to the FMA body for a Contraction it cannot tile (says why)", () => {
    const b = compile(blockPrograms("swiglu", CFG).forward, { target: "cuda", ...TC });
    const k = tensorCoreKernels(b)[0]!;
    expect(tensorCoreSupport(k)).toBe(true);
    expect(tensorCoreSupport({ ...k, contraction: { ...k.contraction!, bLayout: "rowMajor" } })).toMatch(/row-major/);
    expect(tensorCoreSupport({ ...k, workgroupSize: 64 })).toMatch(/workgroup size 64/);
  });
});

describe("tensor-core schedule: its lowering equals the interpreter (FMA bodies on the JS target)", () => {
  const run = compiledRunner({ like: "cuda", ...TC });
  for (const act of ["swiglu", "gelu"] as const)
    for (const routing of ["skewed", "empty"] as const)
      it(`${act} experts, ${routing} routing, forward and gradient`, async () => {
        const { forward, gradient } = blockPrograms(act, CFG);
        await runAndCompare(run, forward, blockInputs(act, CFG, routing, CFG.T, 5, false), 1e-4);
        await runAndCompare(run, gradient, blockInputs(act, CFG, routing, CFG.T, 6, true), 1e-4);
      });

  it("a dense matmul with a bias + gelu epilogue", async () => {
    const { program, inputs } = denseProgram();
    await runAndCompare(run, program, inputs, 1e-4);
  });
});

const NVCC = findNvcc();
if (!NVCC)
  console.warn("\n!!! nvcc NOT FOUND: SKIPPING the tensor-core CUDA compile test (cuda_tensor_core.test.ts)\n");

describe.skipIf(!NVCC)("tensor-core schedule: nvcc", () => {
  it("every variant compiles for sm_80 and sm_90: grouped (16- and 4-byte copies), weight gradient, dense, symbolic T", async () => {
    const layer = moePrograms(LAYER);
    const programs = [
      layer.forward,
      layer.gradient,
      ...Object.values(blockPrograms("swiglu", CFG)),
      ...Object.values(blockPrograms("gelu", CFG, "T")),
      denseProgram().program,
    ];
    const bundles = programs.map((p) => compile(p, { target: "cuda", ...TC }));
    expect(bundles.reduce((n, b) => n + tensorCoreKernels(b).length, 0)).toBeGreaterThanOrEqual(20);
    const source = bundles.map((b, i) => cudaBundleSource(b, { prefix: `tc${i}` }).cu).join("\n");
    const results = await Promise.all(
      DEFAULT_ARCHS.map((arch) => compileCuda(source, { archs: [arch], extraFlags: HOST_WARNINGS_AS_ERRORS })),
    );
    results.forEach((r, i) => {
      if (!r.ok) throw new Error(`nvcc ${DEFAULT_ARCHS[i]}:\n${formatDiagnostics(r, source)}`);
    });
  }, 240_000);
});
