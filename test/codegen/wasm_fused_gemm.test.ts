/**
 * Fused grouped GEMMs on the wasm target's SIMD micro-kernels (gemm_tile.ts): the
 * token gather read through its index in A's load (forward rows; the weight
 * gradient's contraction rows), gate and up as one tile with two sums, the
 * SwiGLU / activation / gate-weight epilogues, dX of gate + up as one summed
 * product, and their gradients. Each bundle is checked against the interpreter on
 * fresh random inputs with f32x4 mul + add and with relaxed_madd, over routings
 * with empty experts, a skewed expert, one expert, and row counts that are not a
 * multiple of the 4-row tile (T = 1, 13, 37 with top-2: 2, 26, 74 rows).
 */
import v8 from "node:v8";
import { describe, expect, it } from "vitest";
import { runBundle } from "../../backends/cpu/runtime";
import { BENCH_MOE, moeInputs, moePrograms } from "../../bench/moe_layer";
import { compile } from "../../codegen/compile";
import { decodeWasmSource } from "../../codegen/emit/wasm/emitter";
import { renderGemmKernel, simdContraction } from "../../codegen/emit/wasm/gemm";
import type { Contraction, KernelBundle } from "../../codegen/kernel_ir";
import "../../codegen/index";
import { tensor } from "../../dsl/creation";
import type { Program } from "../../dsl/program";
import type { Tensor } from "../../dsl/tensor";
import { bindDims, evalProgram } from "../../dsl/trace";
import { relativeError } from "../../testing/random_programs";
import { blockInputs, blockPrograms, type Activation, type BlockConfig, type Routing } from "./grouped_gemm_cases";

v8.setFlagsFromString("--experimental-wasm-relaxed-simd");

/** `bundle` with its SIMD contraction kernels rendered with or without relaxed_madd. */
function withMadd(bundle: KernelBundle, relaxedMadd: boolean): KernelBundle {
  const kernels = bundle.kernels.map((k) => {
    if (!simdContraction(k)) return k;
    const bytes = renderGemmKernel(k, { shared: typeof SharedArrayBuffer !== "undefined", relaxedMadd });
    return { ...k, source: "wasm:" + Buffer.from(bytes).toString("base64") };
  });
  return { ...bundle, kernels };
}

const run = (bundle: KernelBundle, p: Program, inputs: readonly Tensor[]) =>
  runBundle(
    bundle,
    inputs.map((t) => t._value().data),
    bindDims(p, inputs),
  );

/** Runs `bundle` (both multiply-add paths) against the interpreter; every module validates. */
function expectInterpreter(bundle: KernelBundle, p: Program, inputs: readonly Tensor[], what: string): void {
  for (const k of bundle.kernels) {
    const bytes = decodeWasmSource(k.source);
    if (bytes) expect(WebAssembly.validate(bytes), k.name).toBe(true);
  }
  const want = evalProgram(p, [...inputs]).map((t) => t._value().data);
  for (const relaxed of [false, true])
    run(withMadd(bundle, relaxed), p, inputs).forEach((o, i) =>
      expect(relativeError(o, want[i]!), `${what}, output ${i}, relaxed ${relaxed}`).toBeLessThan(1e-5),
    );
}

/** The grouped GEMM kernels' contractions (every one must be a SIMD micro-kernel). */
function expertContractions(b: KernelBundle): Contraction[] {
  const gemms = b.kernels.filter((k) => /ragged_matmul/.test(k.name));
  for (const k of gemms) expect(simdContraction(k), `${k.name} is a SIMD contraction`).not.toBeNull();
  return gemms.map((k) => k.contraction!);
}

const features = (c: Contraction) =>
  [c.kind, c.aIndex && "gather", c.sibling && "sibling", c.plus && "plus", c.epilogue && "epilogue"]
    .filter(Boolean)
    .join(" ");

const CONFIGS: readonly BlockConfig[] = [
  { T: 13, D: 12, H: 20, E: 4, K: 2 },
  { T: 37, D: 16, H: 9, E: 3, K: 2 },
  { T: 1, D: 5, H: 8, E: 4, K: 2 },
];
const ROUTINGS: readonly Routing[] = ["balanced", "skewed", "empty", "oneExpert"];
const ACTIVATIONS: readonly Activation[] = ["swiglu", "relu", "gelu"];

describe("wasm fused grouped GEMMs equal the interpreter", () => {
  it("the SwiGLU block's expert kernels are fused SIMD contractions, forward and gradient", () => {
    const { forward, gradient } = blockPrograms("swiglu", CONFIGS[0]!);
    // Checks off: the token index is an input (not proven in range), so with checks on the gather is materialised.
    expect(
      expertContractions(compile(forward, { target: "wasm", checks: false, groupedGemmFusion: true })).map(features),
    ).toEqual(["grouped gather sibling epilogue", "grouped epilogue"]);
    expect(
      expertContractions(compile(gradient, { target: "wasm", checks: false, groupedGemmFusion: true }))
        .map(features)
        .sort(),
    ).toEqual(
      [
        "grouped epilogue", // the down projection, recomputed, with the gate weight
        "grouped epilogue", // dH with the SwiGLU backward
        "grouped gather sibling epilogue", // gate + up, recomputed
        "grouped plus epilogue", // dX of gate + up (then the gate-weight scale's transpose)
        "groupedWeightGrad", // dW down
        "groupedWeightGrad gather sibling epilogue", // dW gate + up, x read through the index
      ].sort(),
    );
  });

  for (const act of ACTIVATIONS)
    it(`${act} experts: every routing and row count, forward and gradient, checks on and off`, () => {
      CONFIGS.forEach((cfg, ci) => {
        const { forward, gradient } = blockPrograms(act, cfg);
        for (const checks of [false, true]) {
          const bundles = [forward, gradient].map((p) =>
            compile(p, { target: "wasm", checks, groupedGemmFusion: true }),
          );
          ROUTINGS.forEach((routing, ri) => {
            const seed = 1000 + ci * 100 + ri * 10 + ACTIVATIONS.indexOf(act) + (checks ? 5 : 0);
            expectInterpreter(
              bundles[0]!,
              forward,
              blockInputs(act, cfg, routing, cfg.T, seed, false),
              `${routing} fwd`,
            );
            expectInterpreter(
              bundles[1]!,
              gradient,
              blockInputs(act, cfg, routing, cfg.T, seed + 1, true),
              `${routing} grad`,
            );
          });
        }
      });
    });

  it("out-of-range token indices with checks off are clamped as the JS target's kernels clamp them", () => {
    const cfg = CONFIGS[0]!;
    const { forward, gradient } = blockPrograms("swiglu", cfg);
    for (const [p, grad] of [
      [forward, false],
      [gradient, true],
    ] as const) {
      const inputs = blockInputs("swiglu", cfg, "balanced", cfg.T, 77, grad);
      const R = cfg.T * cfg.K;
      inputs[1] = tensor(
        Array.from({ length: R }, (_, r) => (r % 3 === 0 ? -5 : r % 3 === 1 ? cfg.T + 4 : r % cfg.T)),
        [R],
        "i32",
      );
      const wasm = compile(p, { target: "wasm", checks: false, groupedGemmFusion: true });
      expect(expertContractions(wasm).some((c) => c.aIndex)).toBe(true);
      const want = run(compile(p, { target: "js", checks: false }), p, inputs);
      run(wasm, p, inputs).forEach((o, i) => expect(relativeError(o, want[i]!), `output ${i}`).toBeLessThan(1e-5));
    }
  });

  it("a small benchmark layer (gather proven in range: fused with checks on), forward and gradient", () => {
    const cfg = { ...BENCH_MOE, T: 45, D: 24, H: 40, E: 4 };
    const { forward, gradient } = moePrograms(cfg);
    const inputs = moeInputs(cfg, 3);
    const fwd = compile(forward, { target: "wasm", groupedGemmFusion: true });
    expect(expertContractions(fwd).map(features)).toEqual(["grouped gather sibling epilogue", "grouped epilogue"]);
    expectInterpreter(fwd, forward, inputs, "forward");
    const grad = compile(gradient, { target: "wasm", groupedGemmFusion: true });
    expect(expertContractions(grad).filter((c) => c.aIndex)).toHaveLength(2);
    // The loss's cotangent (a scalar) after the layer's inputs.
    expectInterpreter(grad, gradient, [...inputs, tensor([1], [], "f32")], "gradient");
  });
});
