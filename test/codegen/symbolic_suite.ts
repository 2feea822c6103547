/**
 * The shape-polymorphism property suite, run against any runner: random
 * programs traced once with named dims (testing/symbolic_programs.ts), run at
 * three bindings each (the first with every name = 1), equal the interpreter
 * running the same recipe traced at those sizes; forward programs and their
 * vjpProgram gradients. The runner gets the one symbolic program at every
 * binding, so a backend that caches its compiled bundle per program runs one
 * bundle at all three.
 */
import fc from "fast-check";
import { it } from "vitest";
import { evalProgram } from "../../dsl/trace";
import { compareOutputs, type ProgramRunner } from "../../testing/random_programs";
import {
  bindingsArb,
  symbolicCase,
  symbolicGradientCase,
  symbolicRecipeArb,
  type SymbolicCase,
} from "../../testing/symbolic_programs";

export interface SymbolicSuiteCounts {
  readonly forward: number;
  readonly gradient: number;
}

/** Runs `c.symbolic` with `runner` at each binding and compares with the concrete trace on the interpreter. */
export async function expectSameAtBindings(
  runner: ProgramRunner,
  c: SymbolicCase,
  bindings: readonly ReadonlyMap<string, number>[],
  seed: number,
  rtol: number,
): Promise<void> {
  for (const env of bindings) {
    const inputs = c.inputs(env, seed);
    const want = evalProgram(c.concrete(env), inputs);
    const got = await runner(c.symbolic, inputs);
    const at = c.names.map((n) => `${n} = ${env.get(n)}`).join(", ");
    await compareOutputs(got, want, rtol, `at ${at}\n${c.description}\n${c.symbolic}`);
  }
}

/** Declares the forward and gradient properties (call inside a `describe`). */
export function symbolicProgramSuite(runner: ProgramRunner, counts: SymbolicSuiteCounts, rtol = 1e-4): void {
  it(`forward programs over named dims at 3 bindings each equal the concrete traces (${counts.forward} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(symbolicRecipeArb(), bindingsArb(3), fc.nat(), async (r, bindings, seed) => {
        await expectSameAtBindings(runner, symbolicCase(r), bindings, seed, rtol);
      }),
      { numRuns: counts.forward },
    );
  });

  it(`gradient programs over named dims at 3 bindings each equal the concrete traces (${counts.gradient} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(symbolicRecipeArb({ maxSteps: 4 }), bindingsArb(3), fc.nat(), async (r, bindings, seed) => {
        await expectSameAtBindings(runner, symbolicGradientCase(symbolicCase(r)), bindings, seed, rtol);
      }),
      { numRuns: counts.gradient },
    );
  });
}
