/**
 * `moeforge/cuda`: the CUDA target, Node-only (it runs nvcc and the compiled
 * runner as child processes). Importing this module registers the `cuda`
 * backend for `jit(f, { backend: "cuda" })`; `cudaBundleSource` turns a
 * `compile(p, { target: "cuda" })` bundle into a `.cu`/`.h` pair with a C API.
 *
 * @example
 * import { compile, trace, spec, ops } from "moeforge";
 * import { cudaBundleSource } from "moeforge/cuda";
 * const p = trace((x) => ops.exp(x), spec([1024]));
 * const { cu, header } = cudaBundleSource(compile(p, { target: "cuda" }), { prefix: "my_exp" });
 */
export { cudaBackend } from "./backends/cuda/backend";
export { cudaBundleSource, type CudaBundleOptions, type CudaBundleSource } from "./backends/cuda/bundle";
export { CudaBundleError } from "./backends/cuda/bundle_check";
export { cudaAvailability, nvidiaGpus } from "./backends/cuda/device";
export {
  DEFAULT_ARCHS,
  compileCuda,
  compileCudaSync,
  findNvcc,
  formatDiagnostics,
  parseNvccDiagnostics,
  type NvccDiagnostic,
  type NvccOptions,
  type NvccResult,
} from "./backends/cuda/nvcc";
export {
  buildCudaRunners,
  buildCudaRunnersAsync,
  type BuildRunnerOptions,
  type CudaRunner,
} from "./backends/cuda/runner";
