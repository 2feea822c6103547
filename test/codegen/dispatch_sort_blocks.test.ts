/**
 * The many-workgroup dispatch sort (codegen/lower/ops/counting_sort_blocks.ts): when it is chosen
 * (static key counts from the `dispatchSortManyFrom` knob on shared-memory schedules; symbolic and
 * small ones keep the one-workgroup kernel), its kernels, and its outputs (permutation, counts, prefix
 * sums, starts, segment sums through the sorted keys, gathers through the inverse) against the
 * interpreter with the threshold lowered so a few thousand keys span many workgroups: random,
 * skewed (one bin > 90%) and empty-bin keys, key counts that are a multiple of no block, ascending
 * and descending, on the JS and wasm targets with a GPU-shaped schedule; the CUDA text through nvcc.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import type { KernelBundle } from "../../codegen/kernel_ir";
import { cudaSource } from "../../codegen/emit/cuda";
import { compileCuda, findNvcc, formatDiagnostics } from "../../backends/cuda/nvcc";
import { BENCH_MOE, moePrograms } from "../../bench/moe_layer";
import { topK } from "../../index";
import { runAndCompare, type ProgramRunner } from "../../testing/random_programs";
import { compiledRunner } from "./runners";
import { inverseProgram, MANY_KNOBS, sortInputs, sortProgram, type Routing } from "./dispatch_sort_cases";

const RUNNERS: [string, ProgramRunner][] = [
  ["js, GPU-shaped, many workgroups", compiledRunner({ like: "wgsl", knobs: MANY_KNOBS })],
  ["wasm, GPU-shaped, many workgroups", compiledRunner({ target: "wasm", like: "wgsl", knobs: MANY_KNOBS })],
  // Wider workgroups: 32 threads, blocks of 512 keys.
  [
    "js, GPU-shaped, 32-thread workgroups",
    compiledRunner({ like: "wgsl", knobs: { ...MANY_KNOBS, elementwiseWorkgroup: 32 } }),
  ],
];

const names = (b: KernelBundle) => b.kernels.map((k) => k.name.replace(/^k\d+_/, ""));
/** The dispatch sort's launch grid (workgroups). */
const sortGrid = (b: KernelBundle) => b.schedule.find((l) => l.kernel.endsWith("dispatch_sort"))!.grid;

describe("the many-workgroup dispatch sort", () => {
  it("is chosen for static key counts from the knob on wgsl and cuda; small, symbolic and serial ones keep one kernel", () => {
    for (const target of ["wgsl", "cuda"] as const) {
      const many = compile(sortProgram(1500, 8, 2), {
        target,
        knobs: { dispatchSortManyFrom: 3000, elementwiseWorkgroup: 32 },
      });
      expect(names(many).filter((n) => /^dispatch_(counts|sort)$/.test(n))).toEqual([
        "dispatch_counts",
        "dispatch_sort",
      ]);
      expect(sortGrid(many)).toBeGreaterThan(1);
      for (const b of [
        compile(sortProgram(1499, 8, 2), { target, knobs: { dispatchSortManyFrom: 3000 } }),
        compile(sortProgram("T", 8, 2), { target, knobs: { dispatchSortManyFrom: 1 } }),
      ]) {
        expect(names(b)).not.toContain("dispatch_counts");
        expect(sortGrid(b)).toBe(1);
      }
    }
    for (const target of ["js", "wasm"] as const)
      expect(names(compile(sortProgram(1500, 8, 2), { target, knobs: { dispatchSortManyFrom: 1 } }))).not.toContain(
        "dispatch_counts",
      );
    // Past the old one-workgroup limit (2^22 keys, which took the merge sort): the counting sort over many workgroups.
    const huge = compile(sortProgram(2 ** 21 + 3, 4, 2, true), { target: "wgsl" });
    expect(names(huge).filter((n) => /dispatch|argsort/.test(n))).toEqual(["dispatch_counts", "dispatch_sort"]);
  });

  it("the benchmark layer (T = 1024, 2048 keys) keeps the one-workgroup sort at the default threshold", () => {
    for (const target of ["wgsl", "cuda"] as const)
      for (const p of Object.values(moePrograms(BENCH_MOE)))
        expect(names(compile(p, { target }))).not.toContain("dispatch_counts");
  });

  it("equals the interpreter: random, skewed (one bin > 90%), empty bins; n a multiple of no block; descending", async () => {
    const cases: [T: number, E: number, K: number, Routing, descending: boolean][] = [
      [1500, 8, 2, "random", false], // 3000 keys
      [1501, 6, 2, "skewed", false],
      [777, 8, 4, "empty", false],
      [1300, 5, 1, "skewed", true],
      [600, 64, 2, "random", false], // many bins: narrower workgroups fit the table
      [129, 256, 2, "empty", true],
    ];
    for (const [T, E, K, routing, descending] of cases) {
      const xs = sortInputs(T, E, K, routing, 17 * T + E);
      if (routing === "skewed") {
        const firsts = (topK(xs[0]!, 1)[1]._value().data as Int32Array).filter((e) => e === 0).length;
        expect(firsts / T).toBeGreaterThan(0.9);
      }
      const p = sortProgram(T, E, K, descending);
      const kernels = names(compile(p, { target: "js", like: "wgsl", knobs: MANY_KNOBS }));
      expect(kernels, kernels.join(" ")).toContain("dispatch_counts");
      for (const [name, run] of RUNNERS) {
        await runAndCompare(run, p, xs, 1e-5).catch((e: Error) => {
          throw new Error(`T = ${T}, E = ${E}, K = ${K}, ${routing}, descending ${descending}, ${name}: ${e.message}`);
        });
      }
    }
  }, 120_000);

  it("the inverse permutation the sort kernel writes (capacity dispatch) equals the interpreter, many workgroups", async () => {
    for (const [T, E, K, routing] of [
      [1501, 6, 2, "skewed"],
      [777, 8, 1, "empty"],
    ] as const) {
      const p = inverseProgram(T, E, K);
      const kernels = names(compile(p, { target: "js", like: "wgsl", knobs: MANY_KNOBS }));
      // No kernel of its own for the inverse: the sort writes it.
      expect(kernels, kernels.join(" ")).toEqual(["topKIndices", "dispatch_counts", "dispatch_sort"]);
      for (const [name, run] of RUNNERS)
        await runAndCompare(run, p, sortInputs(T, E, K, routing, T).slice(0, 1), 0).catch((e: Error) => {
          throw new Error(`T = ${T}, ${routing}, ${name}: ${e.message}`);
        });
    }
  });
});

describe.skipIf(!findNvcc())("nvcc: the many-workgroup dispatch sort", () => {
  it("its block-count and sort kernels compile for sm_80", async () => {
    const bundle = compile(sortProgram(1500, 8, 2), {
      target: "cuda",
      knobs: { dispatchSortManyFrom: 1000, elementwiseWorkgroup: 32 },
    });
    const kernels = bundle.kernels.filter((k) => /dispatch_(counts|sort)$/.test(k.name));
    expect(kernels).toHaveLength(2);
    const source = cudaSource(kernels);
    const r = await compileCuda(source, { archs: ["sm_80"] });
    if (!r.ok) throw new Error(formatDiagnostics(r, source));
  }, 120_000);
});
