/**
 * The many-workgroup dispatch sort (codegen/lower/ops/counting_sort_blocks.ts) on WebGPU against the
 * interpreter: the threshold lowered (`dispatchSortManyFrom`) so a few thousand keys span many workgroups;
 * random, skewed (one bin > 90% of the keys) and empty-bin keys, key counts a multiple of no block.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import { NDArray } from "../../dsl/ndarray";
import { Tensor } from "../../dsl/tensor";
import { runWgslBundle } from "../../backends/webgpu/runtime";
import { runAndCompare, type ProgramRunner } from "../../testing/random_programs";
import { MANY_KNOBS, sortInputs, sortProgram, type Routing } from "../codegen/dispatch_sort_cases";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();

/** Compiles with `knobs` for wgsl and runs on the test adapter (static shapes only). */
const onWebGPU =
  (knobs: typeof MANY_KNOBS): ProgramRunner =>
  async (p, xs) => {
    const bundle = compile(p, { target: "wgsl", knobs });
    expect(bundle.kernels.map((k) => k.name).join(" ")).toContain("dispatch_counts");
    const outs = await runWgslBundle(
      ctx!,
      bundle,
      xs.map((x) => ({ type: x.dtype === "i32" ? "i32" : "f32", data: x._value().data as Float32Array })),
    );
    return p.outputs.map((v, i) =>
      Tensor._concrete(new NDArray(v.dtype, v.shape as number[], outs[i]! as Float32Array | Int32Array)),
    );
  };

describe.runIf(ctx)("webgpu: the many-workgroup dispatch sort equals the interpreter", () => {
  it("random, skewed (one bin > 90%), empty bins, descending; 8- and 64-thread workgroups", async () => {
    const cases: [T: number, E: number, K: number, Routing, descending: boolean][] = [
      [1501, 6, 2, "random", false],
      [1300, 5, 1, "skewed", true],
      [2049, 8, 1, "skewed", false],
      [777, 8, 4, "empty", false],
    ];
    for (const [T, E, K, routing, descending] of cases)
      for (const knobs of [MANY_KNOBS, { ...MANY_KNOBS, elementwiseWorkgroup: 64 }]) {
        const p = sortProgram(T, E, K, descending);
        await runAndCompare(onWebGPU(knobs), p, sortInputs(T, E, K, routing, T + E), 1e-5).catch((e: Error) => {
          throw new Error(`T = ${T}, E = ${E}, K = ${K}, ${routing}, W = ${knobs.elementwiseWorkgroup}: ${e.message}`);
        });
      }
  }, 300_000);
});
