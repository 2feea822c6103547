/**
 * Shape polymorphism on the interpreter and the cpu backend: random programs
 * traced once with named dims (T, U on the first input's axes; expressions
 * from reshape -1, merges, pads, slices, concats downstream) run at three
 * bindings each and equal the same recipes traced with concrete sizes,
 * forward and gradient. The cpu backend runs its default target (wasm where
 * SIMD128 validates) and the JS target; each compiles the symbolic program
 * once and runs that bundle at every binding; so does a GPU-shaped schedule
 * on the JS target (what WGSL and CUDA get: tree reductions over symbolic
 * lengths, tiles, barriers), checked here without a GPU.
 *
 * Cases per run: interp 40 + 30, cpu default 40 + 30, JS target 30 + 20, GPU-shaped 20 + 15.
 */
import { describe } from "vitest";
import { cpuBackend, cpuBundle } from "../../backends/cpu/backend";
import { evalProgram } from "../../dsl/trace";
import type { ProgramRunner } from "../../testing/random_programs";
import { compile } from "../../codegen/compile";
import type { KernelBundle } from "../../codegen/kernel_ir";
import type { Program } from "../../dsl/program";
import { SMALL_GPU_KNOBS, runCompiled } from "./runners";
import { symbolicProgramSuite } from "./symbolic_suite";

const onInterp: ProgramRunner = (p, xs) => evalProgram(p, xs);
const onCpuDefault: ProgramRunner = (p, xs) => cpuBackend.run(p, xs);
const onJsTarget: ProgramRunner = (p, xs) => runCompiled(cpuBundle(p, "js"), p, xs);

/** The GPU-shaped schedule (tree reductions, tiles, barriers over symbolic lengths) on the JS target, compiled once per program. */
const gpuShaped = new WeakMap<Program, KernelBundle>();
const onGpuShapedJs: ProgramRunner = (p, xs) => {
  let b = gpuShaped.get(p);
  if (!b) gpuShaped.set(p, (b = compile(p, { target: "js", like: "wgsl", knobs: SMALL_GPU_KNOBS })));
  return runCompiled(b, p, xs);
};

describe("interpreter: programs over named dims equal their concrete traces", () => {
  symbolicProgramSuite(onInterp, { forward: 40, gradient: 30 }, 0);
});

describe("cpu backend (default target): programs over named dims equal their concrete traces", () => {
  symbolicProgramSuite(onCpuDefault, { forward: 40, gradient: 30 });
});

describe("cpu backend, JS target: programs over named dims equal their concrete traces", () => {
  symbolicProgramSuite(onJsTarget, { forward: 30, gradient: 20 });
});

describe("GPU-shaped schedules on the JS target: programs over named dims equal their concrete traces", () => {
  symbolicProgramSuite(onGpuShapedJs, { forward: 20, gradient: 15 });
});
