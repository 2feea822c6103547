/**
 * Scatters through topK picks as gathers through their slot table (codegen/lower/ops/slot_table.ts;
 * in MoE, expert choice's combine, its dX and the topK's backward): the kernels they compile to
 * (one slot table shared by every scatter through the same picks, no generic scatter's sort,
 * starts or sums, no scatter_add_along), the cases that stay generic, and the compiled programs
 * against the interpreter on fresh random inputs: T = 1, T = 33, skewed scores (every row prefers
 * the same positions), picks over several outer dims, a symbolic T, and the expert-choice layer,
 * on the JS target (its own and a GPU-shaped schedule) and wasm (its own and GPU-shaped).
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import type { Target } from "../../codegen/kernel_ir";
import type { Program } from "../../dsl/program";
import { bind } from "../../dsl/trace";
import { SHORT_SCATTER_AXIS } from "../../codegen/lower/ops/scatter";
import { reshape, scatterAdd, spec, topK, trace, type Tensor } from "../../index";
import { mulberry32, randomFloats, runAndCompare, type ProgramRunner } from "../../testing/random_programs";
import { VARIANTS, expectCaseMatches, kernelNames, matrix, variantPrograms } from "../moe/variant_matrix";
import { gpuShapedOnJs, gpuShapedOnWasm, onJs, onWasm } from "./runners";

const RUNNERS: [string, ProgramRunner][] = [
  ["js", onJs],
  ["js, GPU-shaped schedule", gpuShapedOnJs],
  ["wasm", onWasm],
  ["wasm, GPU-shaped schedule", gpuShapedOnWasm],
];

const D = 3;
const GENERIC = /^(scatter_(order|starts|sum|add)|scatter_add_along|argsort)$/;

/**
 * Each of the rows of `scores` [...outer, T] picks its top k positions; `x` [T, D] plus the rows of
 * `u` [...outer, k·D] scatter-added through the flattened picks (the combine), and `z` [...outer, T]
 * plus `w` [...outer, k] scatter-added along the rows through the picks (the topK's backward).
 */
function pickProgram(outer: number[], T: number | "T", k: number, xLength: number | "T" = T): Program {
  return trace(
    (scores: Tensor, x: Tensor, u: Tensor, z: Tensor, w: Tensor) => {
      const picks = topK(scores, k)[1];
      const along = bind("scatterAddAlong", [z, picks, w], { axis: outer.length });
      return [scatterAdd(x, reshape(picks, [-1]), reshape(u, [-1, D])), along];
    },
    spec([...outer, T]),
    spec([xLength, D]),
    spec([...outer, k * D]),
    spec([...outer, T]),
    spec([...outer, k]),
  );
}

function inputs(outer: number[], T: number, k: number, skewed: boolean, seed: number): Tensor[] {
  const rng = mulberry32(seed);
  const scores = randomFloats(rng, "f32", [...outer, T]);
  // Skewed: every row's best positions are the first ones (the same tokens for every expert).
  if (skewed) (scores._value().data as Float32Array).forEach((_, i, a) => (a[i] = (i % T < k ? 20 : 0) + a[i]!));
  return [
    scores,
    ...[
      [T, D],
      [...outer, k * D],
      [...outer, T],
      [...outer, k],
    ].map((s) => randomFloats(rng, "f32", s)),
  ];
}

const names = (p: Program, target: Target) => kernelNames(compile(p, { target }));

describe("scatters through topK picks: gathers through the picks' slot table", () => {
  for (const target of ["wgsl", "cuda", "js", "wasm"] as const)
    it(`${target}: one slot table for both scatters, a gather for each, no generic scatter`, () => {
      for (const [T, k] of [
        [1, 1],
        [33, 17],
        ["T", 1],
      ] as const) {
        const ks = names(pickProgram([4], T, k), target);
        expect(ks.filter((n) => n === "slot_table").length, ks.join(" ")).toBe(1);
        // A scatter along at most SHORT_SCATTER_AXIS picks is an expression in its consumer instead.
        expect(ks.filter((n) => n === "combine").length, ks.join(" ")).toBe(k > SHORT_SCATTER_AXIS ? 2 : 1);
        expect(
          ks.filter((n) => GENERIC.test(n)),
          ks.join(" "),
        ).toEqual([]);
      }
    });

  it("stays generic where the picks do not cover the target axis exactly", () => {
    const ks = names(pickProgram([4], 33, 17, 34), "wgsl");
    expect(ks, ks.join(" ")).toContain("scatter_sum"); // the combine onto 34 rows
    expect(ks.filter((n) => n === "combine").length, ks.join(" ")).toBe(1); // the scatter along the rows
  });

  it("equals the interpreter: T = 1, 33 (random and skewed), picks over 2 x 3 rows, symbolic T", async () => {
    const cases: [number[], number, number, boolean][] = [
      [[4], 1, 1, false],
      [[4], 33, 17, false],
      [[4], 33, 17, true],
      [[2, 3], 33, 9, true],
      [[4], 67, 5, false],
    ];
    for (const [name, run] of RUNNERS) {
      for (const [outer, T, k, skewed] of cases) {
        const context = `rows ${outer.join("x")}, T = ${T}, k = ${k}${skewed ? ", skewed" : ""}, ${name}`;
        await runAndCompare(run, pickProgram(outer, T, k), inputs(outer, T, k, skewed, 13 * T + k)).catch(
          (e: Error) => {
            throw new Error(`${context}: ${e.message.split("\n")[0]}`);
          },
        );
      }
      for (const T of [1, 33])
        await runAndCompare(run, pickProgram([4], "T", 1), inputs([4], T, 1, false, 5 * T)).catch((e: Error) => {
          throw new Error(`symbolic T = ${T}, ${name}: ${e.message.split("\n")[0]}`);
        });
    }
  }, 120_000);

  it("the expert-choice layer (combine, dX, topK backward through the slot table) equals the interpreter on every runner", async () => {
    const v = VARIANTS.find((x) => x.name === "expert choice FFN, capacity factor 2")!;
    for (const c of matrix(
      [v],
      [
        { T: 1, routing: "random" },
        { T: 33, routing: "skewed" },
      ],
    )) {
      const programs = variantPrograms(v, c.T);
      for (const p of [programs.forward, programs.gradient]) {
        const ks = names(p, "wgsl");
        expect(ks.filter((n) => n === "slot_table").length, ks.join(" ")).toBe(1);
        expect(
          ks.filter((n) => GENERIC.test(n)),
          ks.join(" "),
        ).toEqual([]);
      }
      for (const [name, run] of RUNNERS) await expectCaseMatches(c, programs, run, name);
    }
  }, 120_000);
});
