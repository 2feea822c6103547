/**
 * The random-program equivalence suite, run against any CPU runner: forward
 * programs and vjpProgram gradients (f32 to relative 2-norm error 1e-4), f64
 * programs and gradients (1e-10), and programs on inputs of more than 65535
 * elements (launches split across the worker pool). Integers and bools exactly.
 */
import fc from "fast-check";
import { it } from "vitest";
import { gradientCase, randomProgramArb, runAndCompare, type ProgramRunner } from "../../testing/random_programs";

export interface SuiteCounts {
  readonly forward: number;
  readonly gradient: number;
  readonly f64?: number;
  readonly large?: number;
}

/** Declares one `it` per part of the suite (call inside a `describe`). */
export function randomProgramSuite(runner: ProgramRunner, counts: SuiteCounts, gradientSteps = 5): void {
  it(`forward programs (${counts.forward} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb(), (c) => runAndCompare(runner, c.program, c.inputs, 1e-4).then(() => true)),
      { numRuns: counts.forward },
    );
  });

  it(`gradient programs from vjpProgram (${counts.gradient} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(randomProgramArb({ maxSteps: gradientSteps }), fc.nat(), async (c, seed) => {
        const g = gradientCase(c, seed);
        await runAndCompare(runner, g.program, g.inputs, 1e-4);
      }),
      { numRuns: counts.gradient },
    );
  });

  if (counts.f64)
    it(`f64 programs and their gradients match to 1e-10 (${counts.f64} cases)`, async () => {
      await fc.assert(
        fc.asyncProperty(randomProgramArb({ dtype: "f64", maxSteps: 4 }), async (c) => {
          await runAndCompare(runner, c.program, c.inputs, 1e-10);
          const g = gradientCase(c);
          await runAndCompare(runner, g.program, g.inputs, 1e-10);
        }),
        { numRuns: counts.f64 },
      );
    });

  if (counts.large)
    it(`programs on inputs of more than 65535 elements, forward and gradient (${counts.large} cases)`, async () => {
      await fc.assert(
        fc.asyncProperty(randomProgramArb({ large: true, maxSteps: 3 }), async (c) => {
          await runAndCompare(runner, c.program, c.inputs, 1e-4);
          const g = gradientCase(c);
          await runAndCompare(runner, g.program, g.inputs, 1e-4);
        }),
        { numRuns: counts.large },
      );
    });
}
