/**
 * The JS target (the cpu backend's fallback where WebAssembly SIMD is missing;
 * test/codegen/wasm_random.test.ts runs the same suite on the wasm target) equals the interpreter on random programs and
 * on their reverse-mode gradient programs: f32 outputs to relative 2-norm
 * error 1e-4, f64 to 1e-10, integers and bools exactly. The same programs also
 * run with a GPU-shaped schedule on the JS target (tree reductions, shared
 * tiles, barriers, block scans, segment scatters), so the kernels the GPU
 * targets get are checked on every CI run without a GPU.
 *
 * Cases per run: 300 forward + 200 gradient (cpu), 150 + 100 (GPU-shaped),
 * 60 f64 (+ gradients), 6 programs (+ gradients) on inputs of more than 65535 elements.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cpuBackend } from "../../backends/cpu/backend";
import { randomProgramArb } from "../../testing/random_programs";
import { randomProgramSuite } from "./random_suite";
import { gpuShapedOnJs, onJs } from "./runners";

describe("the JS target equals the interpreter on random programs", () => {
  randomProgramSuite(onJs, { forward: 300, gradient: 200, f64: 60, large: 6 });

  it("outputs are host tensors of the program's output shapes", () => {
    const [c] = fc.sample(randomProgramArb(), { numRuns: 1, seed: 7 });
    const outs = cpuBackend.run(c!.program, c!.inputs);
    outs.forEach((t, i) => {
      expect(t.isDevice).toBe(false);
      expect(t.shape).toEqual(c!.program.outputs[i]!.shape);
    });
  });
});

describe("GPU-shaped schedules (run on the JS target) equal the interpreter", () => {
  randomProgramSuite(gpuShapedOnJs, { forward: 150, gradient: 100 }, 4);
});
