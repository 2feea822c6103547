/**
 * The fused MoE routing lowering against the interpreter: the dispatch sort
 * (counting sort + shared bincount + inverse permutation), the gather-sum
 * combine, forward and gradient, on the JS target (its own schedule and a
 * GPU-shaped one) and wasm, for the benchmark layer (token-major slots) and
 * moe/dispatch.ts layers (choice-major, dropless and capacity), with random,
 * skewed (one expert > 90% of tokens) and empty-expert routing, T = 1, T not
 * a multiple of any tile, k = 1, 2, 4, and a symbolic T.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import {
  arange,
  argsort,
  bincount,
  broadcastTo,
  cast,
  matmul,
  reshape,
  scatterAdd,
  spec,
  take,
  topK,
  trace,
  zeros,
  type Tensor,
} from "../../index";
import { evalProgram } from "../../dsl/trace";
import {
  benchCase,
  dispatchCase,
  routingInputs,
  routingPrograms,
  type RoutingCase,
  type Routing,
} from "../../testing/moe_routing_cases";
import {
  mulberry32,
  randomFloats,
  randomIndices,
  runAndCompare,
  type ProgramRunner,
} from "../../testing/random_programs";
import { compiledRunner, gpuShapedOnJs, onJs, onWasm, SMALL_GPU_KNOBS } from "./runners";

/** GPU-shaped with the GPU's short-row rule (rows under 64 one per thread): the fused router kernel. */
const gpuShapedRowsPerThread = compiledRunner({
  like: "wgsl",
  knobs: { ...SMALL_GPU_KNOBS, workgroupReduceMinLength: 64 },
});

const RUNNERS: [string, ProgramRunner][] = [
  ["js", onJs],
  ["js, GPU-shaped schedule", gpuShapedOnJs],
  ["js, GPU-shaped schedule, short rows per thread", gpuShapedRowsPerThread],
  ["wasm", onWasm],
];

async function expectMatches(c: RoutingCase, T: number, routing: Routing, seed: number): Promise<void> {
  const { forward, gradient } = routingPrograms(c, T);
  for (const [name, run] of RUNNERS) {
    const context = `${c.name}, T = ${T}, ${routing} routing, ${name}`;
    await runAndCompare(run, forward, routingInputs(c, T, routing, seed, false)).catch((e: Error) => {
      throw new Error(`${context}, forward: ${e.message}`);
    });
    await runAndCompare(run, gradient, routingInputs(c, T, routing, seed + 1, true)).catch((e: Error) => {
      throw new Error(`${context}, gradient: ${e.message}`);
    });
  }
}

const small = (E: number, K: number) => ({ T: 0, D: 6, H: 5, E, K });
/** Token counts (1, and counts that are multiples of no tile) with the routing each is run with. */
const CASES: [number, Routing][] = [
  [1, "random"],
  [13, "skewed"],
  [37, "empty"],
];

describe("MoE routing kernels equal the interpreter", () => {
  for (const K of [1, 2, 4]) {
    it(`benchmark layer, k = ${K}: T = 1 (random), 13 (skewed), 37 (empty experts)`, async () => {
      const c = benchCase(small(6, K));
      for (const [T, routing] of CASES) await expectMatches(c, T, routing, T * 7 + K);
    }, 120_000);
  }

  it("moe/dispatch.ts dropless (choice-major slots) and with a capacity factor, k = 1, 2", async () => {
    for (const K of [1, 2])
      for (const c of [dispatchCase(small(4, K)), dispatchCase(small(4, K), 1.25)])
        for (const [T, routing] of CASES) await expectMatches(c, T, routing, T + K);
  }, 120_000);

  it("the routing inputs route as described: skewed sends > 90% of tokens to expert 0, empty leaves experts unused", () => {
    const c = benchCase(small(6, 2));
    // Tokens per expert: the experts of each token's top 2 logits (the router's softmax keeps their order).
    const route = trace(
      (x: Tensor, r: Tensor) => bincount(reshape(topK(matmul(x, r), 2)[1], [-1]), 6),
      spec([40, 6]),
      spec([6, 6]),
    );
    const counts = (routing: Routing) => {
      const [x, r] = routingInputs(c, 40, routing, 3, false);
      return Array.from(evalProgram(route, [x!, r!])[0]!._value().data);
    };
    expect(counts("skewed")[0]).toBeGreaterThan(36);
    expect(counts("empty").slice(3)).toEqual([0, 0, 0]);
  });

  it("a symbolic T: one trace, run at T = 1 and 70 on every runner", async () => {
    for (const c of [benchCase(small(4, 2)), dispatchCase(small(4, 2))]) {
      const { forward, gradient } = routingPrograms(c, "T");
      for (const T of [1, 70])
        for (const [name, run] of RUNNERS) {
          await runAndCompare(run, forward, routingInputs(c, T, "random", T, false)).catch((e: Error) => {
            throw new Error(`${c.name}, symbolic T = ${T}, ${name}, forward: ${e.message}`);
          });
          await runAndCompare(run, gradient, routingInputs(c, T, "skewed", T, true)).catch((e: Error) => {
            throw new Error(`${c.name}, symbolic T = ${T}, ${name}, gradient: ${e.message}`);
          });
        }
    }
  }, 120_000);

  it("dispatch sort: argsort and bincount of topK experts equal the interpreter, descending too, many sizes", async () => {
    const rng = mulberry32(5);
    for (const [n, E] of [
      [1, 1],
      [7, 3],
      [64, 8],
      [300, 8],
      [1000, 64],
      [129, 256],
    ] as const) {
      for (const descending of [false, true]) {
        const program = trace(
          (v: Tensor) => {
            // topK over E columns proves the keys are in [0, E).
            const keys = reshape(topK(v, 1)[1], [-1]);
            return [argsort(keys, 0, descending), bincount(keys, E), bincount(keys, E + 3)];
          },
          spec([n, E]),
        );
        const kernels = compile(program, { target: "wgsl" }).kernels.map((k) => k.name);
        expect(kernels.filter((k) => k.includes("dispatch_sort"))).toHaveLength(1);
        expect(kernels.some((k) => k.includes("bincount") || k.includes("argsort"))).toBe(false);
        const xf = cast(randomIndices(rng, [n, E], 1000), "f32"); // many ties
        for (const [, run] of RUNNERS) await runAndCompare(run, program, [xf], 0);
      }
    }
  }, 120_000);

  it("scatters through a permutation of float keys: one inverse-permutation kernel, then gather-sums", async () => {
    const program = trace(
      (keys: Tensor, v: Tensor, w: Tensor) => {
        const order = argsort(keys); // float keys: the generic sort, but still a permutation
        const n = 24;
        const slotToken = reshape(broadcastTo(reshape(arange(n / 3), [-1, 1]), [n / 3, 3]), [-1]);
        return [scatterAdd(zeros([n / 3, 4]), take(slotToken, order), v), scatterAdd(w, order, reshape(v, [n, 4]))];
      },
      spec([24]),
      spec([24, 4]),
      spec([24, 4]),
    );
    const kernels = compile(program, { target: "wgsl" }).kernels.map((k) => k.name);
    expect(kernels.filter((k) => k.includes("inverse_permutation"))).toHaveLength(1);
    expect(kernels.filter((k) => k.includes("combine"))).toHaveLength(2);
    expect(kernels.some((k) => k.includes("scatter"))).toBe(false);
    const rng = mulberry32(9);
    const inputs = [
      randomFloats(rng, "f32", [24]),
      randomFloats(rng, "f32", [24, 4]),
      randomFloats(rng, "f32", [24, 4]),
    ];
    for (const [, run] of RUNNERS) await runAndCompare(run, program, inputs);
  });

  it("keys without a known small range keep the generic argsort and bincount", () => {
    const program = trace((v: Tensor) => [argsort(v), bincount(v, 8)], spec([40], "i32"));
    const kernels = compile(program, { target: "wgsl" }).kernels.map((k) => k.name);
    expect(kernels.some((k) => k.includes("dispatch_sort"))).toBe(false);
    expect(kernels.some((k) => k.includes("argsort"))).toBe(true);
  });

  it("a named slot count keeps the one-kernel dispatch sort", () => {
    const program = trace(
      (v: Tensor) => {
        const keys = reshape(topK(v, 2)[1], [-1]);
        return [argsort(keys), bincount(keys, 4)];
      },
      spec(["T", 4]),
    );
    const kernels = compile(program, { target: "wgsl" }).kernels.map((k) => k.name);
    expect(kernels.filter((k) => k.includes("dispatch_sort"))).toHaveLength(1);
  });
});
