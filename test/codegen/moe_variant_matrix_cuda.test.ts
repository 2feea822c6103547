/**
 * Issue #17's coverage matrix (test/moe/variant_matrix.ts) on the CUDA target:
 * every variant's forward and gradient bundle at every case's token count,
 * and the T·k·D > 2^24 layer's, takes the variant's lowering path, and all of
 * them (host launchers and kernels) compile with nvcc in one translation unit.
 * Running them needs an NVIDIA GPU, so this file does not; the same programs'
 * numerics are checked on the cpu and WebGPU targets
 * (test/moe/variant_matrix_cpu.test.ts, test/webgpu/moe_variant_matrix.test.ts).
 */
import { describe, expect, it } from "vitest";
import { cudaBundleSource } from "../../backends/cuda/bundle";
import { compileCuda, findNvcc, formatDiagnostics } from "../../backends/cuda/nvcc";
import { compile } from "../../codegen/compile";
import "../../codegen/emit/cuda";
import { BIG_CASES, CASES, VARIANTS, matrix, pathMismatch, variantPrograms } from "../moe/variant_matrix";

/** Every variant's forward and gradient CUDA bundle at every case's T, and the T·k·D > 2^24 cases, with a C prefix. */
function bundles() {
  const cases = [
    ...matrix().map((c, i) => ({ ...c, id: `m${i}` })),
    ...BIG_CASES.map((c, i) => ({ ...c, id: `big${i}` })),
  ];
  return cases.map((c) => {
    const { forward, gradient } = variantPrograms(c.variant, c.T);
    return {
      v: c.variant,
      T: c.T,
      fwd: compile(forward, { target: "cuda" }),
      grad: compile(gradient, { target: "cuda" }),
      prefix: c.id,
    };
  });
}

describe("MoE variant matrix on the CUDA target", () => {
  const all = bundles();

  it("every variant's bundles take its lowering path", () => {
    for (const b of all) expect(pathMismatch(b.v, b.T, b.fwd, b.grad), `${b.v.name}, T = ${b.T}`).toBeUndefined();
  });

  // --ptx: the front end and NVVM on every kernel and launcher, in one nvcc call (about 45 s for the
  // 50 bundles on a shared 2-core machine); ptxas on top (object mode) would take several times that.
  it.skipIf(!findNvcc())(
    "every bundle (forward and gradient, every variant and T) compiles with nvcc for sm_80",
    async () => {
      const source = all
        .flatMap((b) => [
          cudaBundleSource(b.fwd, { prefix: `${b.prefix}_fwd` }).cu,
          cudaBundleSource(b.grad, { prefix: `${b.prefix}_grad` }).cu,
        ])
        .join("\n");
      expect(all.length).toBe(VARIANTS.length * CASES.length + BIG_CASES.length);
      const r = await compileCuda(source, { archs: ["sm_80"], mode: "ptx" });
      if (!r.ok) throw new Error(formatDiagnostics(r, source));
    },
    300_000,
  );
});
