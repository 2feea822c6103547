/**
 * The wasm target's SIMD128 contraction kernels (codegen/emit/wasm/gemm.ts)
 * against the interpreter: the grouped GEMM, its weight gradient and the dense
 * matmul, on shapes with full 4x8 tiles and with row and column tails (scalar
 * path), empty and uneven groups; each with f32x4 mul + add and with
 * f32x4.relaxed_madd (enabled in this process with V8's flag where the engine
 * has it behind one). f32 accumulation: relative 2-norm error <= 1e-5.
 */
import v8 from "node:v8";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runBundle } from "../../backends/cpu/runtime";
import { compile } from "../../codegen/compile";
import { decodeWasmSource } from "../../codegen/emit/wasm/emitter";
import { relaxedSimdAvailable, renderGemmKernel, simdContraction } from "../../codegen/emit/wasm/gemm";
import type { KernelBundle } from "../../codegen/kernel_ir";
import { NDArray } from "../../dsl/ndarray";
import { Tensor } from "../../dsl/tensor";
import { bindDims, evalProgram } from "../../dsl/trace";
import {
  add,
  gelu,
  matmul,
  mul,
  raggedMatmul,
  relu,
  spec,
  sum,
  tanh,
  trace,
  transpose,
  vjpProgram,
  type Program,
} from "../../index";
import { mulberry32, randomFloats, relativeError } from "../../testing/random_programs";

// Node 20 has relaxed SIMD behind a flag; later engines validate it as shipped.
v8.setFlagsFromString("--experimental-wasm-relaxed-simd");

/** `bundle` with every SIMD contraction kernel re-rendered with or without relaxed_madd. */
function withMadd(bundle: KernelBundle, relaxedMadd: boolean): KernelBundle {
  const kernels = bundle.kernels.map((k) => {
    if (!simdContraction(k)) return k;
    const bytes = renderGemmKernel(k, { shared: typeof SharedArrayBuffer !== "undefined", relaxedMadd });
    expect(WebAssembly.validate(bytes)).toBe(true);
    return { ...k, source: "wasm:" + Buffer.from(bytes).toString("base64") };
  });
  return { ...bundle, kernels };
}

function groupSizes(rng: () => number, rows: number, groups: number): Tensor {
  const sizes = new Int32Array(groups);
  let left = rows;
  for (let g = 0; g < groups - 1; g++) {
    sizes[g] = rng() < 0.2 ? 0 : Math.floor((rng() * left) / 2);
    left -= sizes[g]!;
  }
  sizes[groups - 1] = left;
  return Tensor._concrete(new NDArray("i32", [groups], sizes));
}

/**
 * Runs `p` on the wasm target (both multiply-add paths) and checks it against the interpreter; returns the
 * SIMD kernel count (each one's B packed in panels).
 */
function check(p: Program, inputs: Tensor[]): number {
  const want = evalProgram(p, inputs).map((t) => t._value().data);
  const bundle = compile(p, { target: "wasm" });
  const simd = bundle.kernels.filter((k) => simdContraction(k)).length;
  expect(bundle.kernels.filter((k) => simdContraction(k)?.bLayout === "panels").length).toBe(simd);
  for (const k of bundle.kernels) expect(WebAssembly.validate(decodeWasmSource(k.source)!)).toBe(true);
  for (const relaxed of [false, true]) {
    const outs = runBundle(
      withMadd(bundle, relaxed),
      inputs.map((t) => t._value().data),
      bindDims(p, inputs),
    );
    outs.forEach((o, i) => expect(relativeError(o, want[i]!), `output ${i}, relaxed ${relaxed}`).toBeLessThan(1e-5));
  }
  return simd;
}

const dimArb = fc.constantFrom(1, 3, 4, 7, 8, 13, 16, 24, 33);

describe("wasm SIMD contraction kernels equal the interpreter", () => {
  it("relaxed SIMD validates here (with the flag), so both paths run", () => {
    expect(relaxedSimdAvailable()).toBe(true);
  });

  it("grouped GEMM and its weight gradient (tails, empty groups; 40 cases)", () => {
    fc.assert(
      fc.property(dimArb, dimArb, dimArb, fc.integer({ min: 1, max: 5 }), fc.nat(), (M, K, N, G, seed) => {
        const rng = mulberry32(seed);
        const loss = trace(
          (x: Tensor, w: Tensor, gs: Tensor) => sum(mul(raggedMatmul(x, w, gs), raggedMatmul(x, w, gs))),
          spec([M, K]),
          spec([G, K, N]),
          spec([G], "i32"),
        );
        const grad = vjpProgram(loss);
        const inputs = [randomFloats(rng, "f32", [M, K]), randomFloats(rng, "f32", [G, K, N]), groupSizes(rng, M, G)];
        const simd = check(grad, [...inputs, Tensor._concrete(new NDArray("f32", [], new Float32Array([1])))]);
        // Forward, dx (a grouped GEMM against w transposed: the pack kernel reads it transposed) and dw.
        expect(simd).toBe(3);
      }),
      { numRuns: 40 },
    );
  });

  it("dense matmul (tails; 30 cases)", () => {
    fc.assert(
      fc.property(dimArb, dimArb, dimArb, fc.nat(), (M, K, N, seed) => {
        const rng = mulberry32(seed);
        const p = trace((a: Tensor, b: Tensor) => matmul(a, b), spec([M, K]), spec([K, N]));
        expect(check(p, [randomFloats(rng, "f32", [M, K]), randomFloats(rng, "f32", [K, N])])).toBe(1);
      }),
      { numRuns: 30 },
    );
  });

  it("dense matmul with an epilogue (bias, activation) or a transposed A: a SIMD product, then the epilogue (30 cases)", () => {
    const epilogues = [
      (y: Tensor, bias: Tensor) => relu(add(y, bias)),
      (y: Tensor, bias: Tensor) => gelu(add(y, bias)),
      (y: Tensor, bias: Tensor) => mul(tanh(y), bias),
    ];
    fc.assert(
      fc.property(dimArb, dimArb, dimArb, fc.nat(2), fc.boolean(), fc.nat(), (M, K, N, which, transposed, seed) => {
        const rng = mulberry32(seed);
        const epilogue = epilogues[which]!;
        const p = transposed
          ? trace(
              (at: Tensor, b: Tensor, bias: Tensor) => epilogue(matmul(transpose(at), b), bias),
              spec([K, M]),
              spec([K, N]),
              spec([N]),
            )
          : trace(
              (a: Tensor, b: Tensor, bias: Tensor) => epilogue(matmul(a, b), bias),
              spec([M, K]),
              spec([K, N]),
              spec([N]),
            );
        const inputs = [
          randomFloats(rng, "f32", transposed ? [K, M] : [M, K]),
          randomFloats(rng, "f32", [K, N]),
          randomFloats(rng, "f32", [N]),
        ];
        expect(check(p, inputs)).toBe(1);
      }),
      { numRuns: 30 },
    );
  });

  it("a large grouped GEMM split across the worker pool (2048 x 256 x 128, 8 groups)", () => {
    const rng = mulberry32(5);
    const p = trace(
      (x: Tensor, w: Tensor, gs: Tensor) => raggedMatmul(x, w, gs),
      spec([2048, 256]),
      spec([8, 256, 128]),
      spec([8], "i32"),
    );
    expect(
      check(p, [
        randomFloats(rng, "f32", [2048, 256]),
        randomFloats(rng, "f32", [8, 256, 128]),
        groupSizes(rng, 2048, 8),
      ]),
    ).toBe(1);
  });

  it("packed weight panels are kept across runs and repacked when the weight's bytes change", () => {
    const [M, K, N, G] = [37, 19, 21, 3];
    const rng = mulberry32(11);
    const p = trace(
      (x: Tensor, w: Tensor, gs: Tensor) => raggedMatmul(x, w, gs),
      spec([M, K]),
      spec([G, K, N]),
      spec([G], "i32"),
    );
    const bundle = compile(p, { target: "wasm" });
    const pack = bundle.schedule.find((l) => l.reusable);
    expect(pack?.reusable?.inputs, "the pack launch reads the weight input only").toEqual([bundle.inputs[1]]);
    const x = randomFloats(rng, "f32", [M, K]);
    const gs = groupSizes(rng, M, G);
    const run = (w: Tensor) => {
      let packed = false;
      const inputs = [x, w, gs];
      const [got] = runBundle(
        bundle,
        inputs.map((t) => t._value().data),
        bindDims(p, inputs),
        (l) => void (packed ||= l === pack),
      );
      expect(relativeError(got!, evalProgram(p, inputs)[0]!._value().data)).toBeLessThan(1e-5);
      return packed;
    };
    const w1 = randomFloats(rng, "f32", [G, K, N]);
    expect(run(w1), "first run packs").toBe(true);
    expect(run(w1), "same weight: panels reused").toBe(false);
    expect(run(randomFloats(rng, "f32", [G, K, N])), "a new weight repacks").toBe(true);
    const data = w1._value().data as Float32Array;
    expect(run(w1), "back to the first weight repacks").toBe(true);
    data[data.length - 1] = -data[data.length - 1]! - 1; // one element changed in place, same array
    expect(run(w1), "an in-place change repacks").toBe(true);
    expect(run(w1)).toBe(false);
  });
});
