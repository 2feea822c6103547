/**
 * The `cuda` backend: compiles a Program to a CUDA bundle, builds it with nvcc
 * into a small runner executable (cached by source hash), and runs it on the
 * machine's NVIDIA GPU through files. Available only where a GPU and nvcc are
 * present; `available()` says which is missing.
 */
import { compile } from "../../codegen/compile";
import type { KernelBundle } from "../../codegen/kernel_ir";
import type { Program } from "../../dsl/program";
import { resolveShape } from "../../dsl/shape";
import { Tensor } from "../../dsl/tensor";
import { bindDims } from "../../dsl/trace";
import { NDArray } from "../../dsl/ndarray";
import { bindBufferSizes } from "../../codegen/bind_sizes";
import { registerBackend, type Backend, type RunOptions } from "../registry";
import { cudaAvailability, cudaMachineProfile } from "./device";
import { buildCudaRunners, runCudaRunner, type CudaRunner } from "./runner";

const runners = new WeakMap<Program, Map<boolean, { bundle: KernelBundle; runner: CudaRunner }>>();

/** The bundle of `program` for the CUDA target and its runner, built once per Program and checks setting. */
function runnerFor(program: Program, checks: boolean): { bundle: KernelBundle; runner: CudaRunner } {
  let byChecks = runners.get(program);
  if (!byChecks) runners.set(program, (byChecks = new Map()));
  let r = byChecks.get(checks);
  if (!r) {
    const device = cudaMachineProfile();
    const bundle: KernelBundle = compile(program, { target: "cuda", checks, ...(device ? { device } : {}) });
    r = { bundle, runner: buildCudaRunners([bundle])[0]! };
    byChecks.set(checks, r);
  }
  return r;
}

/**
 * Runs Programs on an NVIDIA GPU via generated CUDA.
 *
 * @example
 * setBackend("cuda"); // throws "backend "cuda" is not available: no NVIDIA GPU found ..." without one
 * const f = jit((x) => x.exp().sum(), { backend: "cuda" });
 */
export const cudaBackend: Backend = {
  name: "cuda",
  available: cudaAvailability,
  run(program: Program, inputs: readonly Tensor[], options: RunOptions = {}): Tensor[] {
    const dims = bindDims(program, inputs, "cuda backend");
    const { bundle, runner } = runnerFor(program, options.checks ?? true);
    bindBufferSizes(bundle, dims, Number.MAX_SAFE_INTEGER, "cuda backend"); // 64-bit sizes; the other limits
    const { outputs } = runCudaRunner(
      runner,
      dims,
      inputs.map((t) => t._value().data),
    );
    return program.outputs.map((v, i) => {
      const shape = resolveShape(v.shape, dims);
      const data = outputs[i]!;
      // u32 never appears as a program dtype; the bundle's buffers carry the program's dtypes.
      return Tensor._concrete(new NDArray(v.dtype, shape, data as NDArray["data"]));
    });
  },
};

registerBackend(cudaBackend);
