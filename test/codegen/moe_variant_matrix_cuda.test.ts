/**
 * Issue #17's coverage matrix (test/moe/variant_matrix.ts) on the CUDA target:
 * every variant's forward and gradient bundle, at every case's token count,
 * takes the variant's lowering path, and all of them (host launchers and
 * kernels) compile with nvcc in one translation unit. Numerics need a GPU and
 * are checked where one is lent; the same kernel IR runs on the cpu and WebGPU
 * backends against the interpreter (test/moe/variant_matrix_cpu.test.ts,
 * test/webgpu/moe_variant_matrix.test.ts).
 */
import { describe, expect, it } from "vitest";
import { cudaBundleSource } from "../../backends/cuda/bundle";
import { compileCuda, findNvcc, formatDiagnostics } from "../../backends/cuda/nvcc";
import { compile } from "../../codegen/compile";
import "../../codegen/emit/cuda";
import { CASES, VARIANTS, pathMismatch, variantPrograms } from "../moe/variant_matrix";

/** Every variant's forward and gradient CUDA bundle at every case's T, with a C prefix naming it. */
function bundles() {
  return VARIANTS.flatMap((v, i) =>
    CASES.map((c) => {
      const { forward, gradient } = variantPrograms(v, c.T);
      const fwd = compile(forward, { target: "cuda" });
      const grad = compile(gradient, { target: "cuda" });
      return { v, T: c.T, fwd, grad, prefix: `v${i}_t${c.T}` };
    }),
  );
}

describe("MoE variant matrix on the CUDA target", () => {
  const all = bundles();

  it("every variant's bundles take its lowering path", () => {
    for (const b of all) expect(pathMismatch(b.v, b.T, b.fwd, b.grad), `${b.v.name}, T = ${b.T}`).toBeUndefined();
  });

  // --ptx: the front end and NVVM on every kernel and launcher, in one nvcc call (40 s for the 42
  // bundles on a shared 2-core machine); ptxas on top (object mode) would take several times that.
  it.skipIf(!findNvcc())(
    "every bundle (forward and gradient, every variant and T) compiles with nvcc for sm_80",
    async () => {
      const source = all
        .flatMap((b) => [
          cudaBundleSource(b.fwd, { prefix: `${b.prefix}_fwd` }).cu,
          cudaBundleSource(b.grad, { prefix: `${b.prefix}_grad` }).cu,
        ])
        .join("\n");
      expect(all.length).toBe(VARIANTS.length * CASES.length);
      const r = await compileCuda(source, { archs: ["sm_80"], mode: "ptx" });
      if (!r.ok) throw new Error(formatDiagnostics(r, source));
    },
    300_000,
  );
});
