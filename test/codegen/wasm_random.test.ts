/**
 * The wasm target equals the interpreter on random programs and their
 * reverse-mode gradient programs (f32 to relative 2-norm error 1e-4, f64 to
 * 1e-10, integers and bools exactly), with its own schedule and with a
 * GPU-shaped one (barrier kernels run as JS over the same wasm memory), and on
 * inputs large enough that launches are split across the worker pool.
 *
 * Cases per run: 150 forward + 100 gradient, 40 f64 (+ gradients),
 * 4 large (+ gradients), 60 + 40 GPU-shaped.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import "../../codegen/index";
import { compile } from "../../codegen/compile";
import { decodeWasmSource } from "../../codegen/emit/wasm/emitter";
import { gradientCase, randomProgramArb } from "../../testing/random_programs";
import { randomProgramSuite } from "./random_suite";
import { gpuShapedOnWasm, onWasm } from "./runners";

describe("wasm target equals the interpreter on random programs", () => {
  randomProgramSuite(onWasm, { forward: 150, gradient: 100, f64: 40, large: 4 });

  it("kernels are wasm modules (barrier-free ones), each of which validates", () => {
    const [c] = fc.sample(randomProgramArb({ maxSteps: 5 }), { numRuns: 1, seed: 3 });
    const bundle = compile(gradientCase(c!).program, { target: "wasm" });
    expect(bundle.kernels.length).toBeGreaterThan(0);
    for (const k of bundle.kernels) {
      const bytes = decodeWasmSource(k.source);
      expect(bytes, `kernel ${k.name} is not wasm`).not.toBeNull();
      expect(WebAssembly.validate(bytes!)).toBe(true);
    }
  });
});

describe("GPU-shaped schedules on the wasm target equal the interpreter", () => {
  randomProgramSuite(gpuShapedOnWasm, { forward: 60, gradient: 40 }, 4);
});
