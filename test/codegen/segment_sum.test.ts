/**
 * The segment-sum lowering of a scatterAdd through the dispatch sort's sorted keys
 * (codegen/lower/ops/segment_sum.ts; in MoE, the FFN experts' bias gradient in the dropless
 * path): the kernels it compiles to (one `segment_sum`, no generic scatter's sort, starts or
 * sums), the cases that must stay generic, and the compiled programs against the interpreter on
 * fresh random inputs: skewed routing (one expert > 90% of the rows), empty experts, T = 1,
 * T = 33, a target axis longer than the key range, a symbolic T, and the dropless FFN layer's
 * gradient, on the JS target (its own and a GPU-shaped schedule) and wasm (its own and GPU-shaped).
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import type { Target } from "../../codegen/kernel_ir";
import type { Program } from "../../dsl/program";
import { argsort, reshape, scatterAdd, spec, take, topK, trace, type Tensor } from "../../index";
import { mulberry32, randomFloats, runAndCompare, type ProgramRunner } from "../../testing/random_programs";
import { VARIANTS, expectCaseMatches, kernelNames, matrix, variantPrograms } from "../moe/variant_matrix";
import { gpuShapedOnJs, gpuShapedOnWasm, onJs, onWasm } from "./runners";

const RUNNERS: [string, ProgramRunner][] = [
  ["js", onJs],
  ["js, GPU-shaped schedule", gpuShapedOnJs],
  ["wasm", onWasm],
  ["wasm, GPU-shaped schedule", gpuShapedOnWasm],
];

const E = 6;
const K = 2;
const D = 5;
const GENERIC_SCATTER = /^(scatter_(order|starts|sum|add)|argsort)$/;

/**
 * Each token's top-K experts of `logits` [T, E] as sort keys; `x` [L, D] plus the rows of `u`
 * [T, K·D] (as [T·K, D]) scatter-added through the keys in sorted order (a bias gradient when L = E).
 */
function segmentProgram(T: number | "T", L: number, descending = false): Program {
  return trace(
    (logits: Tensor, x: Tensor, u: Tensor) => {
      const keys = reshape(topK(logits, K)[1], [-1]);
      const sorted = take(keys, argsort(keys, 0, descending));
      return scatterAdd(x, sorted, reshape(u, [-1, D]));
    },
    spec([T, E]),
    spec([L, D]),
    spec([T, K * D]),
  );
}

type Routing = "random" | "skewed" | "empty";

/** Random logits, x and rows; skewed: expert 0 gets +20 for every token; empty: experts 3.. get -20. */
function inputs(T: number, L: number, routing: Routing, seed: number): Tensor[] {
  const rng = mulberry32(seed);
  const logits = randomFloats(rng, "f32", [T, E]);
  const data = logits._value().data as Float32Array;
  for (let t = 0; t < T; t++)
    for (let e = 0; e < E; e++) {
      if (routing === "skewed" && e === 0) data[t * E + e] = 20;
      if (routing === "empty" && e >= 3) data[t * E + e] = -20;
    }
  return [logits, randomFloats(rng, "f32", [L, D]), randomFloats(rng, "f32", [T, K * D])];
}

const names = (p: Program, target: Target) => kernelNames(compile(p, { target }));

describe("scatterAdd through the dispatch sort's sorted keys: a segment sum", () => {
  for (const target of ["wgsl", "cuda", "js", "wasm"] as const)
    it(`${target}: one segment_sum kernel after the dispatch sort, no generic scatter`, () => {
      for (const T of [1, 33, "T"] as const) {
        const ks = names(segmentProgram(T, E), target);
        expect(ks.filter((n) => n === "segment_sum").length, ks.join(" ")).toBe(1);
        expect(ks.filter((n) => n === "dispatch_sort").length, ks.join(" ")).toBe(1);
        expect(
          ks.filter((n) => GENERIC_SCATTER.test(n)),
          ks.join(" "),
        ).toEqual([]);
      }
    });

  it("stays generic where the facts do not prove the runs: a descending sort, a target axis shorter than the keys' range", () => {
    for (const p of [segmentProgram(33, E, true), segmentProgram(33, E - 1)]) {
      const ks = names(p, "wgsl");
      expect(ks, ks.join(" ")).not.toContain("segment_sum");
      expect(ks, ks.join(" ")).toContain("scatter_sum");
    }
  });

  it("equals the interpreter: T = 1, 33 (skewed), 33 (empty experts), 67; targets past the key range; symbolic T", async () => {
    const cases: [number, number, Routing][] = [
      [1, E, "random"],
      [33, E, "skewed"],
      [33, E, "empty"],
      [67, E, "random"],
      [33, E + 3, "skewed"],
    ];
    for (const [name, run] of RUNNERS) {
      for (const [T, L, routing] of cases) {
        const context = `T = ${T}, ${L} targets, ${routing} routing, ${name}`;
        await runAndCompare(run, segmentProgram(T, L), inputs(T, L, routing, 31 * T + L)).catch((e: Error) => {
          throw new Error(`${context}: ${e.message.split("\n")[0]}`);
        });
      }
      for (const T of [1, 33])
        await runAndCompare(run, segmentProgram("T", E), inputs(T, E, "skewed", 7 * T)).catch((e: Error) => {
          throw new Error(`symbolic T = ${T}, ${name}: ${e.message.split("\n")[0]}`);
        });
    }
  }, 120_000);

  it("the dropless FFN layer's gradient (bias gradients as segment sums) equals the interpreter on every runner", async () => {
    const v = VARIANTS.find((x) => x.name === "top-4 FFN, not renormalised, dropless")!;
    for (const c of matrix(
      [v],
      [
        { T: 1, routing: "random" },
        { T: 33, routing: "skewed" },
        { T: 33, routing: "empty" },
      ],
    )) {
      const programs = variantPrograms(v, c.T);
      const ks = names(programs.gradient, "wgsl");
      // One per bias (b1 [E, H], b2 [E, D]).
      expect(ks.filter((n) => n === "segment_sum").length, ks.join(" ")).toBe(2);
      for (const [name, run] of RUNNERS) await expectCaseMatches(c, programs, run, name);
    }
  }, 120_000);
});
