/**
 * The cpu backend (JS kernels) equals the interpreter on random programs and
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
import { gradientCase, randomProgramArb, runAndCompare } from "../../testing/random_programs";
import { gpuShapedOnJs, onCpu } from "./runners";

describe("cpu backend equals the interpreter on random programs", () => {
  it("forward programs (300 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb(), (c) => runAndCompare(onCpu, c.program, c.inputs, 1e-4).then(() => true)),
      { numRuns: 300 },
    );
  });

  it("gradient programs from vjpProgram (200 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb({ maxSteps: 5 }), fc.nat(), async (c, seed) => {
        const g = gradientCase(c, seed);
        await runAndCompare(onCpu, g.program, g.inputs, 1e-4);
      }),
      { numRuns: 200 },
    );
  });

  it("f64 programs and their gradients match to 1e-10 (60 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb({ dtype: "f64", maxSteps: 4 }), async (c) => {
        await runAndCompare(onCpu, c.program, c.inputs, 1e-10);
        const g = gradientCase(c);
        await runAndCompare(onCpu, g.program, g.inputs, 1e-10);
      }),
      { numRuns: 60 },
    );
  });

  it("programs on inputs of more than 65535 elements, forward and gradient (6 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb({ large: true, maxSteps: 3 }), async (c) => {
        await runAndCompare(onCpu, c.program, c.inputs, 1e-4);
        const g = gradientCase(c);
        await runAndCompare(onCpu, g.program, g.inputs, 1e-4);
      }),
      { numRuns: 6 },
    );
  });

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
  it("forward programs (150 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb(), (c) =>
        runAndCompare(gpuShapedOnJs, c.program, c.inputs, 1e-4).then(() => true),
      ),
      { numRuns: 150 },
    );
  });

  it("gradient programs (100 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb({ maxSteps: 4 }), fc.nat(), async (c, seed) => {
        const g = gradientCase(c, seed);
        await runAndCompare(gpuShapedOnJs, g.program, g.inputs, 1e-4);
      }),
      { numRuns: 100 },
    );
  });
});
