/**
 * Meta-tests of the gradient suite:
 * - every differentiable primitive of `PrimParams` appears in the traced
 *   forward program of at least one gradient case (so a new primitive without
 *   a gradient property fails here until it gets one, or is listed as not
 *   differentiable);
 * - docs/GRADIENT-CHECKS.md lists every case with the numRuns actually used.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PRIMITIVES, trace, type Primitive } from "../../index";
import { compositeCases } from "./cases/composite";
import { elementwiseCases } from "./cases/elementwise";
import { indexingCases } from "./cases/indexing";
import { linalgCases } from "./cases/linalg";
import { reduceCases } from "./cases/reduce";
import { shapeCases } from "./cases/shape";
import type { GradCase } from "./helpers";
import { COMPARE_PRIMS } from "../../dsl/primitives/params";

const GROUPS: readonly [string, readonly GradCase[]][] = [
  ["elementwise", elementwiseCases],
  ["shape", shapeCases],
  ["reduce", reduceCases],
  ["linalg", linalgCases],
  ["indexing", indexingCases],
  ["composite", compositeCases],
];

/** Primitives whose outputs carry no derivative (integer/bool results, or piecewise constant). */
const NOT_DIFFERENTIABLE: readonly Primitive[] = [
  "sign",
  "logicalNot",
  ...COMPARE_PRIMS, // bool results
  "bitsToUniform",
  "iota",
  "argmax",
  "argmin",
  "topKIndices",
  "argsort",
  "bincount",
  "randomBits",
];

/** Differentiable primitives whose property is not a finite-difference check (see the named test file). */
const CHECKED_ELSEWHERE: Partial<Record<Primitive, string>> = {
  stopGradient: "gradients.control.test.ts (its gradient is zero by definition, unlike its finite differences)",
};

describe("gradient suite coverage", () => {
  it("every differentiable primitive is in the forward program of some gradient case", () => {
    const covered = new Set<string>();
    for (const [, cases] of GROUPS) {
      for (const c of cases) {
        for (const s of fc.sample(c.sample, { numRuns: 4, seed: 7 })) {
          for (const e of trace(s.f as never, ...s.args).eqns) covered.add(e.prim);
        }
      }
    }
    const all = Object.keys(PRIMITIVES) as Primitive[];
    const missing = all.filter((p) => !covered.has(p) && !NOT_DIFFERENTIABLE.includes(p) && !(p in CHECKED_ELSEWHERE));
    expect(missing).toEqual([]);
    // The exclusion list must not hide primitives that do not exist.
    for (const p of [...NOT_DIFFERENTIABLE, ...Object.keys(CHECKED_ELSEWHERE)]) expect(all).toContain(p);
  });

  it("docs/GRADIENT-CHECKS.md lists every case with its numRuns", () => {
    const doc = readFileSync(fileURLToPath(new URL("../../docs/GRADIENT-CHECKS.md", import.meta.url)), "utf8");
    const runs = (n: number) => (n > 0 ? String(n) : "-");
    const rows = GROUPS.flatMap(([group, cases]) =>
      cases.map(
        (c) => `| ${c.name} | ${group} | ${runs(c.runs.vjp)} | ${runs(c.runs.dual)} | ${runs(c.runs.second)} |`,
      ),
    );
    const absent = rows.filter((r) => !doc.includes(r));
    expect(absent, `rows missing from docs/GRADIENT-CHECKS.md:\n${absent.join("\n")}`).toEqual([]);
  });
});
