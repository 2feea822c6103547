/**
 * Kernel counts of the benchmark MoE layer (bench/moe_layer.ts: top-2 SwiGLU,
 * dropless, written with public ops), forward and forward+backward, on wgsl
 * and cuda: upper bounds at what the fused MoE lowering reaches (issue #17's
 * targets are 6 forward and 16 forward+backward), and the kernel names that
 * show the fused routing path is taken (one dispatch sort, gather-sum
 * combines, no generic argsort, segment scatter or group-size check).
 * Tighten the bounds as the lowering improves.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import { BENCH_MOE, moePrograms } from "../../bench/moe_layer";
import { cudaSource } from "../../codegen/emit/cuda";
import { compileCuda, findNvcc, formatDiagnostics } from "../../backends/cuda/nvcc";

/** Upper bounds reached so far (issue #17's targets: 6 and 16). */
const MAX_FORWARD = 5;
const MAX_GRADIENT = 16;

const programs = moePrograms(BENCH_MOE);
const symbolic = moePrograms(BENCH_MOE, "T");

describe("benchmark MoE layer kernel counts", () => {
  for (const target of ["wgsl", "cuda"] as const) {
    for (const [T, p] of [
      [BENCH_MOE.T, programs],
      ["T", symbolic],
    ] as const) {
      it(`${target}, T = ${T}: forward <= ${MAX_FORWARD} kernels, forward+backward <= ${MAX_GRADIENT}, through the fused routing`, () => {
        const fwd = compile(p.forward, { target }).kernels.map((k) => k.name);
        const grad = compile(p.gradient, { target }).kernels.map((k) => k.name);
        expect(fwd.length, fwd.join(" ")).toBeLessThanOrEqual(MAX_FORWARD);
        expect(grad.length, grad.join(" ")).toBeLessThanOrEqual(MAX_GRADIENT);
        for (const names of [fwd, grad]) {
          const count = (part: string) => names.filter((n) => n.endsWith(part)).length;
          expect(count("_dispatch_sort")).toBe(1);
          for (const generic of ["_argsort", "_bincount", "_scatter_order", "_scatter_starts", "_scatter_sum"])
            expect(count(generic), `${generic} in ${names.join(" ")}`).toBe(0);
          // Every group size and index is proven valid: no check kernel, no check flag to clear.
          expect(count("_check_group_sizes")).toBe(0);
          expect(names).not.toContain("k_clear_checks");
        }
        // The router (logits, softmax, top-k) is one row kernel in the forward: no router GEMM, no topK kernel.
        expect(
          fwd.some((n) => /^k\d+_(matmul|topKIndices)$/.test(n)),
          fwd.join(" "),
        ).toBe(false);
        // In the gradient too the router's forward is that one row kernel (its probabilities, top-k
        // indices and values), topK's backward is computed in the softmax backward's row kernel, and the
        // only plain GEMMs are the router's dW and dX.
        for (const generic of ["_topKIndices", "_scatter_add_along", "_elementwise"])
          expect(
            grad.filter((n) => n.endsWith(generic)),
            grad.join(" "),
          ).toHaveLength(0);
        expect(
          grad.filter((n) => /^k\d+_matmul$/.test(n)),
          grad.join(" "),
        ).toHaveLength(2);
        const router = compile(p.gradient, { target }).kernels[0]!.source;
        for (const part of ["this row's logits", "ranks within the row", "the row's picked values"])
          expect(router, part).toContain(part);
        // The forward combine; the backward's dX scatter and the gate weights' permutation transpose.
        expect(fwd.filter((n) => n.endsWith("_combine"))).toHaveLength(1);
        expect(grad.filter((n) => n.endsWith("_combine"))).toHaveLength(3);
      });
    }
  }
});

describe.skipIf(!findNvcc())("nvcc: the fused routing kernels", () => {
  it("the router, dispatch sort, combines and routing backward kernels compile for sm_80 (static and symbolic T)", async () => {
    // Only the routing kernels: ptxas on the whole layer takes minutes on a small machine.
    const routing = /dispatch_sort|combine|inverse_permutation|scatter_add_along/;
    // The router row kernel, and the softmax backward's with topK's backward in it.
    const isRouting = (k: { name: string; source: string }) =>
      routing.test(k.name) || k.source.includes("this row's logits") || k.source.includes("= scatterAddAlong");
    const kernels = [programs, symbolic].flatMap((p, i) =>
      compile(p.gradient, { target: "cuda" })
        .kernels.filter(isRouting)
        .map((k) => ({ ...k, name: `${i ? "symbolic" : "static"}_${k.name}` })),
    );
    expect(kernels.length).toBeGreaterThanOrEqual(12);
    const source = cudaSource(kernels);
    const r = await compileCuda(source, { archs: ["sm_80"] });
    if (!r.ok) throw new Error(formatDiagnostics(r, source));
  }, 300_000);
});
