/**
 * Child process of relaxed_simd.test.ts: a fresh Node process (no V8 flag set by
 * the test runner), so it sees what the cpu backend decides by itself. Prints one
 * JSON line: the relaxed-SIMD choice and target reason, whether the grouped
 * GEMM's module is the relaxed_madd rendering, whether its launch ran split
 * over the worker pool, and its error against the interpreter.
 */
import { workerPool } from "../../backends/cpu/pool";
import { runBundle } from "../../backends/cpu/runtime";
import { cpuTarget } from "../../backends/cpu/target";
import { worthSplitting } from "../../backends/cpu/host_arrays";
import { compile } from "../../codegen/compile";
import { decodeWasmSource } from "../../codegen/emit/wasm/emitter";
import { renderGemmKernel, simdContraction } from "../../codegen/emit/wasm/gemm";
import { relaxedSimd, relaxedSimdAvailable } from "../../codegen/emit/wasm/relaxed_simd";
import { evalSize } from "../../codegen/kernel_ir";
import { NDArray } from "../../dsl/ndarray";
import { Tensor } from "../../dsl/tensor";
import { bindDims, evalProgram } from "../../dsl/trace";
import "../../dsl/primitives/registry";
import { raggedMatmul, spec, trace } from "../../index";
import { mulberry32, randomFloats, relativeError } from "../../testing/random_programs";

const [M, K, N, G] = [203, 96, 72, 5];
const p = trace(
  (x: Tensor, w: Tensor, g: Tensor) => raggedMatmul(x, w, g),
  spec([M, K]),
  spec([G, K, N]),
  spec([G], "i32"),
);
const rng = mulberry32(7);
const sizes = Int32Array.from([61, 0, 80, 1, 61]); // ragged, one empty group, M not a multiple of 4
const f32 = (shape: number[]) => randomFloats(rng, "f32", shape);
const inputs = [f32([M, K]), f32([G, K, N]), Tensor._concrete(new NDArray("i32", [G], sizes))];
const choice = relaxedSimd();
const bundle = compile(p, { target: "wasm" });
const gemm = bundle.kernels.find((k) => simdContraction(k))!;
const bytes = decodeWasmSource(gemm.source)!;
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const shared = typeof SharedArrayBuffer !== "undefined";
const launch = bundle.schedule.find((l) => l.kernel === gemm.name)!;
const dims = bindDims(p, inputs);
const want = evalProgram(p, inputs)[0]!._value().data;
const [got] = runBundle(
  bundle,
  inputs.map((t) => t._value().data),
  dims,
);
console.log(
  JSON.stringify({
    enabled: choice.enabled,
    reason: cpuTarget().reason,
    validates: relaxedSimdAvailable(),
    relaxedModule: same(bytes, renderGemmKernel(gemm, { shared, relaxedMadd: true })),
    plainModule: same(bytes, renderGemmKernel(gemm, { shared, relaxedMadd: false })),
    split: workerPool() !== null && worthSplitting(gemm, evalSize(launch.grid, dims)),
    error: relativeError(got!, want),
  }),
);
