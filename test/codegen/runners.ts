/**
 * Ways to run a Program through the code generator on the CPU: the `cpu`
 * backend (JS target, JS schedule), and the JS target with a GPU-shaped
 * schedule (shared memory, barriers, tree reductions, block scans, tiled
 * matmuls, sort/segment scatters) shrunk so tails and barriers are exercised
 * on small inputs. The JS emitter runs barrier kernels workgroup by workgroup.
 */
import { runBundle } from "../../backends/cpu/runtime";
import { cpuBackend } from "../../backends/cpu/backend";
import { NDArray } from "../../dsl/ndarray";
import { compile, type CompileOptions } from "../../codegen/compile";
import type { KernelBundle, Target } from "../../codegen/kernel_ir";
import type { ScheduleKnobs } from "../../codegen/schedule";
import type { Program } from "../../dsl/program";
import { resolveShape } from "../../dsl/shape";
import { Tensor } from "../../dsl/tensor";
import { bindDims } from "../../dsl/trace";
import type { ProgramRunner } from "../../testing/random_programs";

/** Small GPU-shaped knobs: 8-thread workgroups, 4-thread tree reduces, 8x4 matmul tiles of 2x2 micro-tiles. */
export const SMALL_GPU_KNOBS: Partial<ScheduleKnobs> = {
  elementwiseWorkgroup: 8,
  reduceWorkgroup: 4,
  workgroupReduceMinLength: 3,
  tileM: 8,
  tileN: 4,
  tileK: 2,
  microM: 2,
  microN: 2,
};

/** Runs a JS-target bundle of `program` on concrete tensors. */
export function runCompiled(bundle: KernelBundle, program: Program, inputs: readonly Tensor[]): Tensor[] {
  const dims = bindDims(program, inputs);
  const outs = runBundle(
    bundle,
    inputs.map((t) => t._value().data),
    dims,
  );
  return program.outputs.map((v, i) => Tensor._concrete(new NDArray(v.dtype, resolveShape(v.shape, dims), outs[i]!)));
}

/** A runner compiling with `options` (target js unless given) each time. */
export function compiledRunner(options: Omit<CompileOptions, "target"> & { target?: Target } = {}): ProgramRunner {
  return (p, xs) => runCompiled(compile(p, { target: "js", ...options }), p, xs);
}

/** The cpu backend as a runner. */
export const onCpu: ProgramRunner = (p, xs) => cpuBackend.run(p, xs);

/** GPU-shaped schedule on the JS target. */
export const gpuShapedOnJs: ProgramRunner = compiledRunner({ like: "wgsl", knobs: SMALL_GPU_KNOBS });

/** The JS target (its own schedule). */
export const onJs: ProgramRunner = compiledRunner({ target: "js" });

/** The wasm target (its own schedule). */
export const onWasm: ProgramRunner = compiledRunner({ target: "wasm" });

/** GPU-shaped schedule on the wasm target (barrier kernels run as JS over the wasm memory). */
export const gpuShapedOnWasm: ProgramRunner = compiledRunner({ target: "wasm", like: "wgsl", knobs: SMALL_GPU_KNOBS });
