/**
 * Router fusion (passes/router_fusion.ts): topK(softmax(matmul(x, w))) with few
 * experts is one thread-per-token kernel (logits, softmax, top-k) where the
 * schedule runs short rows one per thread, and stays three kernels where it
 * does not; in a gradient the same one kernel also writes the probabilities
 * the backward reads and the top-k values, and topK's backward is computed in
 * the softmax backward's row kernel; the fused kernels equal the interpreter (forward and gradient),
 * also for the library's top-k gate (top-k of the logits, renormalised).
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import { add, matmul, mul, softmax, spec, square, sum, topK, trace, type Tensor } from "../../index";
import { vjpProgram } from "../../autodiff/vjp";
import { topKGate } from "../../moe/gates/topk";
import { switchLoss } from "../../moe/losses";
import { mulberry32, randomFloats, runAndCompare } from "../../testing/random_programs";
import { compiledRunner, onJs, onWasm, SMALL_GPU_KNOBS } from "./runners";

const rowsPerThread = compiledRunner({ like: "wgsl", knobs: { ...SMALL_GPU_KNOBS, workgroupReduceMinLength: 64 } });

const router = (x: Tensor, w: Tensor) => {
  const [weights, experts] = topK(softmax(matmul(x, w)), 2);
  return [weights, experts];
};
const gate = (x: Tensor, w: Tensor) => {
  const r = topKGate({ w }, x, { k: 2 });
  return [r.weights, r.experts, r.probs];
};

const names = (p: ReturnType<typeof trace>, target: "wgsl" | "cuda" | "js") =>
  compile(p, { target }).kernels.map((k) => k.name);

describe("router fusion", () => {
  it("topK(softmax(x @ w)) with 8 experts: logits, softmax and top-k in one row kernel on wgsl, cuda and js", () => {
    for (const T of [1000, "T"] as const) {
      const p = trace(router, spec([T, 32]), spec([32, 8]));
      for (const target of ["wgsl", "cuda", "js"] as const) {
        const ks = names(p, target);
        // One row kernel; the weights (a gather of the probabilities, a program output) are their own.
        expect(
          ks.filter((k) => k.endsWith("_reduce")),
          ks.join(" "),
        ).toHaveLength(1);
        expect(
          ks.some((k) => k.endsWith("_matmul") || k.endsWith("_topKIndices")),
          ks.join(" "),
        ).toBe(false);
      }
    }
  });

  it("in a gradient: the router (logits, softmax, top-k, top-k values) is one row kernel, topK's backward is in the softmax backward's", () => {
    for (const T of [1000, "T"] as const) {
      const loss = trace(
        (x: Tensor, w: Tensor) => mul(sum(square(router(x, w)[0]!)), 0.5),
        spec([T, 32]),
        spec([32, 8]),
      );
      for (const target of ["wgsl", "cuda", "js"] as const) {
        const ks = compile(vjpProgram(loss), { target }).kernels;
        const ns = ks.map((k) => k.name).join(" ");
        // The router, the loss, the softmax + top-k backward, then dW and dX of the router GEMM.
        expect(
          ks.map((k) => k.name.replace(/^k\d+_/, "")),
          ns,
        ).toEqual(["reduce", "reduce", "reduce", "matmul", "matmul"]);
        // (The top-k values are read by the loss only, so its kernel gathers them itself.)
        for (const part of ["this row's logits", "ranks within the row"]) expect(ks[0]!.source, part).toContain(part);
        expect(ks[2]!.source).toContain("scatterAddAlong");
      }
    }
  });

  it("the library's top-k gate (top-k of the logits, renormalised weights) fuses its router too", () => {
    const ks = names(trace(gate, spec([100, 16]), spec([16, 8])), "wgsl");
    expect(
      ks.some((k) => k.endsWith("_matmul") || k.endsWith("_topKIndices")),
      ks.join(" "),
    ).toBe(false);
  });

  // The renormalised gate alone (no probabilities read): the softmax runs over the k top-k logits, so the
  // row kernel is [T, k] and the topK of the logits moves into its prologue, after the logits GEMM.
  const renormalised = (k: number) => (x: Tensor, w: Tensor) => {
    const r = topKGate({ w }, x, { k });
    return [r.weights, r.experts];
  };
  const renormalisedLoss = (k: number) => (x: Tensor, w: Tensor) => mul(sum(square(renormalised(k)(x, w)[0]!)), 0.5);

  it("the renormalised top-k gate alone (k = 2, 4): the topK of the logits in the row kernel, forward and gradient", () => {
    for (const k of [2, 4])
      for (const T of [1, 33]) {
        const forward = trace(renormalised(k), spec([T, 12]), spec([12, 8]));
        const gradient = vjpProgram(trace(renormalisedLoss(k), spec([T, 12]), spec([12, 8])));
        for (const [what, p] of [
          ["forward", forward],
          ["gradient", gradient],
        ] as const) {
          const ks = compile(p, { target: "wgsl" }).kernels;
          const ns = ks.map((kn) => kn.name.replace(/^k\d+_/, ""));
          // Before: matmul, topKIndices, then the softmax's reduce (forward); the gradient adds its backward.
          expect(ns.includes("matmul") && what === "forward", `${what}: ${ns.join(" ")}`).toBe(false);
          expect(ns.includes("topKIndices"), `${what}: ${ns.join(" ")}`).toBe(false);
          const row = ks.find((kn) => kn.source.includes("this row's logits"));
          expect(row?.source, `${what}: ${ns.join(" ")}`).toContain("ranks within the row");
          if (what === "forward") expect(ns, ns.join(" ")).toEqual(["reduce"]);
        }
      }
  });

  it("the renormalised top-k gate alone equals the interpreter: k = 1, 2, 4, T = 1 and 33, js, wasm, GPU-shaped", async () => {
    const rng = mulberry32(23);
    for (const k of [1, 2, 4])
      for (const T of [1, 33]) {
        const forward = trace(renormalised(k), spec([T, 12]), spec([12, 8]));
        const gradient = vjpProgram(trace(renormalisedLoss(k), spec([T, 12]), spec([12, 8])));
        // Random logits (ties have probability zero), fresh per case.
        const xs = [randomFloats(rng, "f32", [T, 12]), randomFloats(rng, "f32", [12, 8])];
        for (const run of [onJs, onWasm, rowsPerThread]) {
          await runAndCompare(run, forward, xs);
          await runAndCompare(run, gradient, [...xs, randomFloats(rng, "f32", [])]);
        }
      }
  }, 120_000);

  // With the Switch aux loss the probabilities are read too: the [T, E] softmax is the router's row kernel and
  // the renormalised weights' [T, k] softmax is a sibling row in the same thread (it reads the logits and
  // indices only within its row). k = 1: the softmax over one logit simplifies to an elementwise [T, 1] group.
  const withAux = (k: number) => (x: Tensor, w: Tensor) => {
    const r = topKGate({ w }, x, { k });
    return [r.weights, r.experts, switchLoss(r.probs!, r.experts)];
  };
  const auxLoss = (k: number) => (x: Tensor, w: Tensor) => {
    const [weights, , aux] = withAux(k)(x, w);
    return add(mul(sum(square(weights!)), 0.5), aux!);
  };

  it("the renormalised gate with the Switch aux loss: the top-k softmax is in the router kernel (k = 1, 2, 4)", () => {
    for (const k of [1, 2, 4])
      for (const target of ["wgsl", "cuda", "js"] as const) {
        const forward = compile(trace(withAux(k), spec([33, 12]), spec([12, 8])), { target }).kernels;
        const gradient = compile(vjpProgram(trace(auxLoss(k), spec([33, 12]), spec([12, 8]))), { target }).kernels;
        const ns = (ks: typeof forward) => ks.map((kn) => kn.name.replace(/^k\d+_/, "")).join(" ");
        // Before: the router row kernel, the [T, k] softmax (k = 1: an elementwise kernel), the aux loss's three
        // column sums (the expert counts, the mean probabilities, the dot) = 5 forward; the gradient had 12 (k >= 2).
        expect(forward.length, `k = ${k} ${target} forward: ${ns(forward)}`).toBe(4);
        expect(ns(forward), `k = ${k} ${target}`).toBe("reduce reduce reduce reduce");
        const router = forward.filter((kn) => kn.source.includes("this row's logits"));
        expect(router, `k = ${k} ${target}`).toHaveLength(1);
        // The router kernel writes the weights (the first program output) itself.
        expect(router[0]!.comment, `k = ${k} ${target}`).toMatch(/gather/);
        expect(gradient.length, `k = ${k} ${target} gradient: ${ns(gradient)}`).toBe(k === 1 ? 10 : 11);
      }
  });

  it("the k = 1 renormalised gate alone is one kernel: logits, topK and the weight in one row kernel", () => {
    for (const target of ["wgsl", "cuda", "js"] as const) {
      const ks = compile(trace(renormalised(1), spec([33, 12]), spec([12, 8])), { target }).kernels;
      // Before: matmul, topKIndices, elementwise.
      expect(
        ks.map((kn) => kn.name.replace(/^k\d+_/, "")),
        target,
      ).toEqual(["reduce"]);
      expect(ks[0]!.source).toContain("ranks within the row");
    }
  });

  it("the renormalised gate with the aux loss equals the interpreter: k = 1, 2, 4, T = 1 and 33, js, wasm, GPU-shaped", async () => {
    const rng = mulberry32(29);
    for (const k of [1, 2, 4])
      for (const T of [1, 33]) {
        const forward = trace(withAux(k), spec([T, 12]), spec([12, 8]));
        const gradient = vjpProgram(trace(auxLoss(k), spec([T, 12]), spec([12, 8])));
        const xs = [randomFloats(rng, "f32", [T, 12]), randomFloats(rng, "f32", [12, 8])];
        for (const run of [onJs, onWasm, rowsPerThread]) {
          await runAndCompare(run, forward, xs);
          await runAndCompare(run, gradient, [...xs, randomFloats(rng, "f32", [])]);
        }
      }
  }, 120_000);

  it("64 experts (a workgroup per row on GPUs) keep the matmul and topK kernels there, not on js", () => {
    const p = trace(router, spec([100, 16]), spec([16, 64]));
    expect(names(p, "wgsl").some((k) => k.endsWith("_topKIndices"))).toBe(true);
    expect(names(p, "wgsl").some((k) => k.endsWith("_matmul"))).toBe(true);
    expect(names(p, "js").some((k) => k.endsWith("_matmul") || k.endsWith("_topKIndices"))).toBe(false);
  });

  it("equals the interpreter, forward and gradient, on js, wasm and the GPU-shaped schedule", async () => {
    const rng = mulberry32(11);
    for (const fn of [router, gate])
      for (const [T, E] of [
        [1, 4],
        [37, 8],
        [5, 64],
      ] as const) {
        const forward = trace(fn, spec([T, 12]), spec([12, E]));
        const loss = trace((x: Tensor, w: Tensor) => mul(sum(square(fn(x, w)[0]!)), 0.5), spec([T, 12]), spec([12, E]));
        const gradient = vjpProgram(loss);
        const xs = [randomFloats(rng, "f32", [T, 12]), randomFloats(rng, "f32", [12, E])];
        for (const run of [onJs, onWasm, rowsPerThread]) {
          await runAndCompare(run, forward, xs);
          await runAndCompare(run, gradient, [...xs, randomFloats(rng, "f32", [])]);
        }
      }
  }, 120_000);
});
