/**
 * Capacity-factor dispatch (moe/dispatch.ts `planTokenChoice` with a capacity) on the fused
 * routing path (codegen/passes/capacity_dispatch.ts): the kernels it compiles to, forward and
 * gradient, static and symbolic T, and the compiled layer against the interpreter on fresh
 * random inputs whose routing overflows experts (drops asserted), leaves experts empty, T = 1,
 * and a symbolic T, on the JS target (its own and a GPU-shaped schedule) and wasm.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import { cudaSource } from "../../codegen/emit/cuda";
import { compileCuda, findNvcc, formatDiagnostics } from "../../backends/cuda/nvcc";
import { optimize } from "../../codegen/passes/pipeline";
import { evalProgram } from "../../dsl/trace";
import { vjpProgram } from "../../autodiff/vjp";
import { ffnExperts, moeLayer } from "../../moe/index";
import {
  add,
  argsort,
  bincount,
  cast,
  cumsum,
  matmul,
  mul,
  random,
  reshape,
  softmax,
  spec,
  square,
  sub,
  sum,
  tensor,
  topK,
  trace,
  tree,
  type Tensor,
} from "../../index";
import { expertCapacity, planTokenChoice } from "../../moe/dispatch";
import { dispatchCase, routingInputs, routingPrograms, type Routing } from "../../testing/moe_routing_cases";
import { mulberry32, randomIndices, runAndCompare, type ProgramRunner } from "../../testing/random_programs";
import { gpuShapedOnJs, onJs, onWasm } from "./runners";

const CFG = { T: 0, D: 6, H: 5, E: 4, K: 2 };
const FACTOR = 1.25;
const RUNNERS: [string, ProgramRunner][] = [
  ["js", onJs],
  ["js, GPU-shaped schedule", gpuShapedOnJs],
  ["wasm", onWasm],
];

/** The fraction of assignments the library drops for these inputs (the plan's own statistic, eager). */
function dropFraction(K: number, T: number, inputs: readonly Tensor[]): number {
  const [x, router] = inputs as [Tensor, Tensor];
  const [weights, experts] = topK(softmax(matmul(x, router)), K);
  const routing = { kind: "tokenChoice", numExperts: CFG.E, experts, weights } as Parameters<typeof planTokenChoice>[0];
  return planTokenChoice(routing, { capacity: expertCapacity(FACTOR, K, T, CFG.E) }).dropFraction.item();
}

const names = (p: Parameters<typeof compile>[0], target: "wgsl" | "cuda") =>
  compile(p, { target }).kernels.map((k) => k.name);
const count = (ks: string[], part: string) => ks.filter((n) => n.endsWith(part)).length;

describe("capacity dispatch on the fused routing path", () => {
  for (const target of ["wgsl", "cuda"] as const)
    for (const T of [13, 1, "T"] as const) {
      it(`${target}, T = ${T}: one dispatch sort, gather-sum combines, no generic sort or scatter, no group-size check`, () => {
        const { forward, gradient } = routingPrograms(dispatchCase({ ...CFG }, FACTOR), T);
        const fwd = names(forward, target);
        const grad = names(gradient, target);
        // Before the pass: 17 / 66 forward and 28 / 76 gradient kernels (T = 13 / symbolic T) on wgsl; with it
        // 13 / 12 and 24 / 25 (T = 1: 13, 25), one fewer since the first launch clears the check flag, and one
        // fewer again since the sort kernel writes its permutation's inverse (was a combine copying it).
        // At T = 1, C = 1: `keys * C` is simplified to the keys before the pass sees it.
        expect(fwd.length, fwd.join(" ")).toBeLessThanOrEqual(11);
        expect(grad.length, grad.join(" ")).toBeLessThanOrEqual(23);
        for (const ks of [fwd, grad]) {
          expect(ks, ks.join(" ")).not.toContain("k_clear_checks");
          expect(count(ks, "_dispatch_sort"), ks.join(" ")).toBe(1);
          for (const generic of [
            "_argsort",
            "_bincount",
            "_scatter_order",
            "_scatter_starts",
            "_scatter_sum",
            "_check_group_sizes",
          ])
            expect(count(ks, generic), `${generic} in ${ks.join(" ")}`).toBe(0);
          // The [S, E] one-hot scan is gone, and the counts' prefix sums come out of the dispatch sort.
          expect(count(ks, "_cumsum"), ks.join(" ")).toBe(0);
        }
        // The combine (the sort kernel writes the inverse); the gradient adds the dispatch gather's dX.
        expect(count(fwd, "_combine"), fwd.join(" ")).toBe(1);
        expect(count(grad, "_combine"), grad.join(" ")).toBe(2);
      });
    }

  it("the library's moeLayer (top-2 FFN, capacity factor 1.25): the fused path, forward <= 13 and gradient <= 28 kernels", () => {
    // Without passes/capacity_dispatch.ts: 22 forward kernels at T = 33 (the [S, E] cumsum, generic sorts per scatter).
    const layer = moeLayer({ numExperts: 4, gate: { type: "topK", k: 2 }, experts: ffnExperts, capacityFactor: 1.25 });
    const [leaves, def] = tree.flatten(layer.init(random.key(7), { dModel: 8, hidden: 6 }));
    const specs = [spec([33, 8]), ...(leaves as Tensor[]).map((p) => spec(p.shape as number[]))];
    const loss = (x: Tensor, ...ps: Tensor[]) => {
      const { y, report } = layer.apply(tree.unflatten(def, ps) as Parameters<typeof layer.apply>[0], x);
      return add(mul(sum(square(y)), 0.5), report.auxLoss);
    };
    const fwd = names(trace(loss, ...specs), "wgsl");
    const grad = names(vjpProgram(trace(loss, ...specs)), "wgsl");
    // 15 and 30 before the first launch cleared the check flag and the sort kernel wrote the inverse.
    expect(fwd.length, fwd.join(" ")).toBeLessThanOrEqual(13);
    expect(grad.length, grad.join(" ")).toBeLessThanOrEqual(28);
    for (const ks of [fwd, grad]) {
      expect(count(ks, "_dispatch_sort"), ks.join(" ")).toBe(1);
      for (const generic of ["_argsort", "_scatter_order", "_scatter_sum", "_cumsum", "_check_group_sizes"])
        expect(count(ks, generic), `${generic} in ${ks.join(" ")}`).toBe(0);
    }
  });

  it("the rewritten program computes what the library's plan does (interpreter, overflowing and empty experts)", () => {
    for (const K of [1, 2])
      for (const [T, routing] of [
        [1, "random"],
        [13, "skewed"],
        [37, "empty"],
        [29, "random"],
      ] as [number, Routing][]) {
        const c = dispatchCase({ ...CFG, K }, FACTOR);
        const { forward, gradient } = routingPrograms(c, T);
        for (const [p, grad] of [
          [forward, false],
          [gradient, true],
        ] as const) {
          const rewritten = optimize(p);
          expect(rewritten.eqns.some((e) => e.prim === "cumsum" && e.inputs[0]!.shape.length === 2)).toBe(false);
          const inputs = routingInputs(c, T, routing, 100 + T + K, grad);
          const want = evalProgram(p, inputs);
          const got = evalProgram(rewritten, inputs);
          got.forEach((g, i) => {
            const a = Array.from(g._value().data);
            const b = Array.from(want[i]!._value().data);
            a.forEach((x, j) => expect(Math.abs(x - b[j]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b[j]!))));
          });
        }
      }
  });

  it("the test inputs overflow: skewed and empty-expert routing drop assignments, T = 1 drops none", () => {
    for (const K of [1, 2]) {
      const c = dispatchCase({ ...CFG, K }, FACTOR);
      expect(dropFraction(K, 13, routingInputs(c, 13, "skewed", 1, false))).toBeGreaterThan(0.1);
      expect(dropFraction(K, 37, routingInputs(c, 37, "empty", 1, false))).toBeGreaterThan(0.2);
      expect(dropFraction(K, 1, routingInputs(c, 1, "random", 1, false))).toBe(0);
    }
  });

  it("compiled forward and gradient equal the interpreter: T = 1, overflowing (skewed) and empty experts, k = 1, 2", async () => {
    for (const K of [1, 2]) {
      const c = dispatchCase({ ...CFG, K }, FACTOR);
      for (const [T, routing] of [
        [1, "random"],
        [13, "skewed"],
        [37, "empty"],
      ] as [number, Routing][]) {
        const { forward, gradient } = routingPrograms(c, T);
        for (const [name, run] of RUNNERS) {
          const context = `k = ${K}, T = ${T}, ${routing}, ${name}`;
          await runAndCompare(run, forward, routingInputs(c, T, routing, 7 * T + K, false)).catch((e: Error) => {
            throw new Error(`${context}, forward: ${e.message}`);
          });
          await runAndCompare(run, gradient, routingInputs(c, T, routing, 7 * T + K + 1, true)).catch((e: Error) => {
            throw new Error(`${context}, gradient: ${e.message}`);
          });
        }
      }
    }
  }, 120_000);

  it("a symbolic T: one trace run at T = 1, 13 (skewed: drops) and 40 on every runner", async () => {
    const c = dispatchCase({ ...CFG }, FACTOR);
    const { forward, gradient } = routingPrograms(c, "T");
    for (const [T, routing] of [
      [1, "random"],
      [13, "skewed"],
      [40, "empty"],
    ] as [number, Routing][])
      for (const [name, run] of RUNNERS) {
        await runAndCompare(run, forward, routingInputs(c, T, routing, T + 50, false)).catch((e: Error) => {
          throw new Error(`symbolic T = ${T}, ${name}, forward: ${e.message}`);
        });
        await runAndCompare(run, gradient, routingInputs(c, T, routing, T + 51, true)).catch((e: Error) => {
          throw new Error(`symbolic T = ${T}, ${name}, gradient: ${e.message}`);
        });
      }
  }, 120_000);

  it("the dispatch sort writes its counts' prefix sums (inclusive and exclusive); descending sorts keep the cumsum", async () => {
    for (const descending of [false, true]) {
      const p = trace(
        (v: Tensor) => {
          const keys = reshape(topK(v, 1)[1], [-1]);
          const counts = bincount(keys, 5);
          const ends = cumsum(counts);
          return [argsort(keys, 0, descending), ends, sub(ends, counts), mul(sub(ends, counts), 2)];
        },
        spec([37, 5]),
      );
      const ks = names(p, "wgsl");
      expect(count(ks, "_dispatch_sort"), ks.join(" ")).toBe(1);
      expect(count(ks, "_cumsum"), ks.join(" ")).toBe(descending ? 1 : 0);
      const v = cast(randomIndices(mulberry32(descending ? 2 : 1), [37, 5], 1000), "f32");
      for (const [, run] of RUNNERS) await runAndCompare(run, p, [v], 0);
    }
  });

  it("expert ids without a proven range keep the generic lowering (and still match the interpreter)", async () => {
    // Expert ids from an input: nothing bounds them by E, so the [S, E] one-hot scan stays.
    const plan = (experts: Tensor, weights: Tensor) =>
      planTokenChoice(
        { kind: "tokenChoice", numExperts: 3, experts, weights } as Parameters<typeof planTokenChoice>[0],
        {
          capacity: 2,
        },
      );
    const p = trace(
      (experts: Tensor, weights: Tensor) => {
        const q = plan(experts, weights);
        return [q.rowToken, q.rowWeight];
      },
      spec([5, 2], "i32"),
      spec([5, 2]),
    );
    expect(optimize(p).eqns.some((e) => e.prim === "cumsum" && e.inputs[0]!.shape.length === 2)).toBe(true);
    const experts = tensor([0, 1, 0, 2, 0, 1, 0, 0, 2, 1], [5, 2], "i32");
    const weights = tensor([0.5, 0.25, 0.7, 0.2, 0.9, 0.1, 0.6, 0.3, 0.4, 0.35], [5, 2]);
    for (const [, run] of RUNNERS) await runAndCompare(run, p, [experts, weights]);
  });
});

describe.skipIf(!findNvcc())("nvcc: the capacity dispatch kernels", () => {
  it("the dispatch sort (with its prefix sums) and the combines compile for sm_80, static and symbolic T", async () => {
    const kernels = ([13, "T"] as const).flatMap((T) =>
      compile(routingPrograms(dispatchCase({ ...CFG }, FACTOR), T).gradient, { target: "cuda" })
        .kernels.filter((k) => /dispatch_sort|combine/.test(k.name))
        .map((k) => ({ ...k, name: `T${T}_${k.name}` })),
    );
    expect(kernels.filter((k) => k.name.endsWith("dispatch_sort"))).toHaveLength(2);
    const source = cudaSource(kernels);
    const r = await compileCuda(source, { archs: ["sm_80"] });
    if (!r.ok) throw new Error(formatDiagnostics(r, source));
  }, 300_000);
});
